"""The text the model is given, kept as files beside this module (installed with the package as its data)."""

from functools import cache
from importlib.resources import files


@cache
def text(name: str) -> str:
    """One prompt file's text, by its path under `prompts/` (e.g. "system.md" or "local/output_note.md")."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8").strip()
