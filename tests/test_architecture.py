"""Structural guarantees: imports point down, and nothing the assistant runs can approve."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPROVING_NAMES = {"approve", "reject", "Person", "as_person"}
ABOVE_CORE = {"tools", "assistant", "evals", "prompts"}


def imports_under(folder: Path) -> list[tuple[str, str, set[str]]]:
    """(file, module, imported names) for every import in the Python files below `folder`."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((path.name, node.module, {alias.name for alias in node.names}))
            elif isinstance(node, ast.Import):
                found.extend((path.name, alias.name, set()) for alias in node.names)
    return found


def approving_imports(folder: Path) -> list[tuple[str, str, set[str]]]:
    """Imports below `folder` that reach the approval functions, a Person, or the channels."""
    return [
        (name, module, names)
        for name, module, names in imports_under(folder)
        if module.startswith("assistant") or (names & APPROVING_NAMES and module.startswith(("core.", "assistant")))
    ]


def test_the_core_imports_nothing_above_it() -> None:
    upward = [(name, module) for name, module, _ in imports_under(ROOT / "core") if module.split(".")[0] in ABOVE_CORE]
    assert upward == []


def test_tools_cannot_reach_the_approval_functions_or_a_person() -> None:
    assert approving_imports(ROOT / "tools") == []


def test_the_guard_finds_an_approving_import_where_one_is_written(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from core.drafts.service import approve, draft_action\n")
    (tmp_path / "fine.py").write_text("from core.drafts.service import draft_action\n")
    assert approving_imports(tmp_path) == [("bad.py", "core.drafts.service", {"approve", "draft_action"})]
