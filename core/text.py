"""Text the database can store: PostgreSQL refuses the NUL character in text, so the core refuses it as input."""

from typing import Any

from core.errors import InvalidInput

NUL_REFUSED = "text may not contain the NUL character (\\u0000); remove it"


def has_nul(value: Any) -> bool:
    """Whether a NUL character hides in any text of `value` (a string, or dicts and lists of them)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def require_storable(text: str, what: str) -> None:
    """Refuse text with a NUL in it, naming what it was (a message, a comment), on every backend alike."""
    if has_nul(text):
        raise InvalidInput(f"{what}: {NUL_REFUSED}")
