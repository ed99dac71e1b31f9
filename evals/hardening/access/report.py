"""The matrix as a markdown page."""

from datetime import datetime

from core import clock
from evals.hardening.access.actions import ACTIONS
from evals.hardening.access.cells import ALLOWED, NOT_APPLICABLE, REFUSED, TARGETS, subjects
from evals.hardening.access.matrix import Matrix, Result

# --- Showing it ----------------------------------------------------------------------------------


def mark(seen: str) -> str:
    """Y allowed, n refused, - no such path, ? anything else."""
    if seen.startswith(REFUSED):
        return "n"
    return {ALLOWED: "Y", NOT_APPLICABLE: "-"}.get(seen, "?")


def _mark(result: Result) -> str:
    marks = "/".join(mark(seen) for seen in (result.via_tool, result.via_http, result.via_mcp))
    if result.agrees:
        return marks
    over_mcp = "" if result.mcp_expected == result.expected else f", over MCP {'Y' if result.mcp_expected else 'n'}"
    return f"**{marks}!** (expected {'Y' if result.expected else 'n'}{over_mcp})"


def to_markdown(matrix: Matrix) -> str:
    """The matrix: a row per user and entity, a column per action; each cell says tool/API/MCP."""
    names = [a.name for a in ACTIONS]
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for result in matrix.results:
        rows.setdefault((result.cell.subject.label, result.cell.place.entity), {})[result.action.name] = _mark(result)
    lines = [
        "| user | records of | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
        *(
            f"| {who} | {entity} | " + " | ".join(marks[n] for n in names) + " |"
            for (who, entity), marks in rows.items()
        ),
    ]
    return "\n".join([*lines, "", *_summary(matrix)])


def _summary(matrix: Matrix) -> list[str]:
    allowed = sum(r.expected for r in matrix.results)
    lines = [
        f"{len(matrix.results)} cells ({len(subjects())} users x {len(TARGETS)} entities x {len(ACTIONS)} actions): "
        f"{allowed} allowed, {len(matrix.results) - allowed} denied by the definitions; "
        f"{len(matrix.mismatches)} disagree with what the tools, the API or MCP did.",
    ]
    for result in matrix.mismatches:
        lines.append(
            f"- {result.cell.subject.label} on {result.cell.place.entity}, {result.action.name}: expected "
            f"{'allowed' if result.expected else 'denied'}; tool: {result.via_tool}; API: {result.via_http}; "
            f"MCP: {result.via_mcp}"
        )
    return lines


LEGEND = (
    "Each cell is *tool/API/MCP*: Y allowed, n refused (`permission_denied` or `out_of_scope`, 403; another user's "
    "conversation: `not_found`, 404; over MCP also `unknown_tool`, a tool the user is not offered), - no such path "
    "(no tool approves, rejects, opens a purchase order or a conversation; MCP reads a purchase order as the "
    "resource `erp://PO-…`, and a client that tries `approve_draft` or `reject_draft` finds no such tool, for "
    "anyone: approving is refused over MCP by design). A draft is a preview the requester has not confirmed, "
    "on every path (the API's `confirm: false`, MCP without elicitation). A cell in bold "
    "disagrees with what the definitions (roles' permissions, case routing, the policy's approver roles, the "
    "directory's entities and limits) allow."
)


def report(matrix: Matrix) -> str:
    when = f"Run {datetime.now():%Y-%m-%d %H:%M} on the demo company, business date {clock.today()}."
    audit = matrix.audit
    verdict = "verifies" if audit.chain.ok else f"BROKEN at seq {audit.chain.first_broken_seq}"
    checked = (
        f"Audit after the run: the chain of {audit.chain.events} events {verdict}; {audit.drafts} drafts made, "
        f"{audit.executed} executed, checked against their documents, stock and audit trail: "
        f"{len(audit.problems)} problems{''.join(f'; {p}' for p in audit.problems[:5])}."
    )
    return "\n".join(["# Access matrix", "", when, "", LEGEND, "", to_markdown(matrix), "", checked, ""])
