"""Structural guarantees: imports point down, channels reach the core through its services, nothing the
assistant runs can approve, and the product never imports the evaluations."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPROVING_NAMES = {"approve", "reject", "confirm", "Person", "as_person"}  # what only a person may do
# Deciding someone's draft. MCP confirms and cancels a preview for its own requester (a Person, `confirm`), as the
# web's buttons do, so it is held to these alone.
DECIDING_NAMES = {"approve", "reject", "decide"}
ABOVE_CORE = {"tools", "assistant", "evals", "prompts"}
ABOVE_TOOLS = {"assistant", "evals", "prompts"}
PRODUCT = ("core", "tools", "assistant")
# What builds or runs a query: only the core may hold these (a Session type hint elsewhere is fine).
QUERY_BUILDERS = {"select", "insert", "update", "delete", "func", "text", "and_", "or_", "case", "exists"}
# The assistant's own layer: the agent, the model door, prompts, grounding. Channels and commands stand on it.
CHANNELS = ("assistant.channels", "assistant.cli")


def imports_under(place: Path) -> list[tuple[str, str, set[str]]]:
    """(file, module, imported names) for every import in the Python files below `place` (or in that file)."""
    found = []
    for path in sorted(place.rglob("*.py")) if place.is_dir() else [place] if place.suffix == ".py" else []:
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


def deciding_references(folder: Path) -> list[tuple[str, str, set[str]]]:
    """Imports below `folder` of the functions that decide a draft, and any `x.approve` / `x.reject` reached
    through a module imported whole."""
    imported = [
        (name, module, names & DECIDING_NAMES)
        for name, module, names in imports_under(folder)
        if names & DECIDING_NAMES and module.startswith(("core.", "assistant"))
    ]
    reached = [
        (path.name, ast.unparse(node), {node.attr})
        for path in sorted(folder.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Attribute) and node.attr in DECIDING_NAMES
    ]
    return imported + reached


def query_imports(folder: Path) -> list[tuple[str, str, set[str]]]:
    """Imports below `folder` of SQLAlchemy's query builders: code that would read or write tables itself."""
    return [
        (name, module, names & QUERY_BUILDERS or names)
        for name, module, names in imports_under(folder)
        if (module in {"sqlalchemy", "sqlalchemy.sql", "sqlalchemy.sql.expression"} and names & QUERY_BUILDERS)
        or (module == "sqlalchemy" and not names)
    ]


def top(module: str) -> str:
    return module.split(".")[0]


def test_the_core_imports_nothing_above_it() -> None:
    upward = [(name, module) for name, module, _ in imports_under(ROOT / "core") if top(module) in ABOVE_CORE]
    assert upward == []


def test_tools_import_only_the_core() -> None:
    upward = [(name, module) for name, module, _ in imports_under(ROOT / "tools") if top(module) in ABOVE_TOOLS]
    assert upward == []


def test_the_product_never_imports_the_evaluations() -> None:
    upward = [(n, m) for folder in PRODUCT for n, m, _ in imports_under(ROOT / folder) if top(m) == "evals"]
    assert upward == []


def test_only_the_core_builds_queries() -> None:
    """Tools and channels call core services; no `select(...)` on core tables above the core."""
    assert query_imports(ROOT / "tools") == []
    assert query_imports(ROOT / "assistant") == []


def test_the_assistant_layer_does_not_reach_up_into_channels_or_commands() -> None:
    assistant = ROOT / "assistant"
    below_channels = [p for p in assistant.iterdir() if p.name not in {"channels", "cli"}]
    upward = [
        (name, module)
        for path in below_channels
        for name, module, _ in imports_under(path)
        if module.startswith(CHANNELS)
    ]
    assert upward == []


def test_channels_do_not_import_the_command_line() -> None:
    upward = [(n, m) for n, m, _ in imports_under(ROOT / "assistant" / "channels") if m.startswith("assistant.cli")]
    assert upward == []


def test_tools_cannot_reach_the_approval_functions_or_a_person() -> None:
    assert approving_imports(ROOT / "tools") == []


def test_the_mcp_channel_cannot_approve_or_reject() -> None:
    assert deciding_references(ROOT / "assistant" / "channels" / "mcp") == []


def test_the_guard_finds_an_approving_import_where_one_is_written(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from core.drafts.service import approve, draft_action\n")
    (tmp_path / "fine.py").write_text("from core.drafts.service import draft_action\n")
    assert approving_imports(tmp_path) == [("bad.py", "core.drafts.service", {"approve", "draft_action"})]
    assert deciding_references(tmp_path) == [("bad.py", "core.drafts.service", {"approve"})]
    (tmp_path / "sly.py").write_text("from core.drafts import service\nservice.reject(s, p, draft_number=1)\n")
    assert ("sly.py", "service.reject", {"reject"}) in deciding_references(tmp_path)


def test_the_guard_finds_a_query_written_above_the_core(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from sqlalchemy import func, select\nfrom sqlalchemy.orm import Session\n")
    (tmp_path / "fine.py").write_text("from sqlalchemy.orm import Session\nfrom sqlalchemy.engine import make_url\n")
    assert query_imports(tmp_path) == [("bad.py", "sqlalchemy", {"func", "select"})]
