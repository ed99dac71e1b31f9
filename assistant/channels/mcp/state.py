"""The key that seals a confirmation's state between its two rounds (the client echoes it back; any worker may
receive the echo, so every worker must hold the same key)."""

import os
import secrets
from pathlib import Path

from core.settings import data_dir, get_settings

KEY_FILE = "mcp-state.key"


def state_key() -> bytes:
    """ERP_MCP_STATE_KEY when set (several machines set the same), else a random key kept in the data directory
    (readable by its owner only), made by whichever process needs it first."""
    configured = get_settings().mcp_state_key
    if configured:
        return configured.encode()
    return _kept_key(data_dir() / KEY_FILE)


def _kept_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_bytes().strip()
