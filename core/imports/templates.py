"""Templates and reference for the import files, rendered from the kinds' own column specs so they cannot drift."""

import csv
import io

from core.imports.kinds import KINDS
from core.imports.spec import TYPE_DOCS, Kind

REFERENCE_PATH = "docs/import.md"


def template_csv(kind: Kind) -> str:
    """A CSV with the kind's header and one example row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in kind.columns])
    writer.writerow([c.example for c in kind.columns])
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _kind_section(kind: Kind) -> list[str]:
    lines = [f"## {kind.name}", "", f"{kind.title}. {kind.doc}", ""]
    key = ", ".join(kind.key)
    refers = ", ".join(kind.depends) or "nothing"
    lines += [f"Key: {key}. Refers to: {refers}.", ""]
    if kind.frozen_doc:
        lines += ["Fixed by history (a change is reported as refused): " + "; ".join(kind.frozen_doc) + ".", ""]
    lines += ["| column | required | type | example | meaning |", "|---|---|---|---|---|"]
    for c in kind.columns:
        required = "required" if c.required else "optional"
        lines.append(f"| {c.name} | {required} | {c.type} | {_cell(c.example)} | {_cell(c.doc)} |")
    return [*lines, ""]


def reference_markdown() -> str:
    """The reference of every import file, in load order: docs/import.md is this text."""
    lines = [
        "# Import files",
        "",
        "<!-- Generated from core/imports by `erp-assistant import reference`; a test keeps it equal. -->",
        "",
        "`erp-assistant import run FOLDER` reads every `KIND.csv` or `KIND.xlsx` in the folder (an XLSX may also",
        "hold one sheet per kind, each named after its kind); `erp-assistant import template KIND` writes a",
        "template. CSV files are UTF-8 (a BOM is fine) with `,` or `;` between cells. Row 1 is the header; rows are",
        "numbered as a spreadsheet numbers them. Records are matched by their key: a re-run changes nothing, a",
        "changed row updates its record, and an empty optional cell keeps what the record had. Any problem in any",
        "file and nothing is written; `--dry-run` reports what would change. Only an admin imports.",
        "",
        "The opening balances (opening_stock, open_purchase_orders, open_sales_orders, open_receivables) load after",
        "the master data in the same transaction, through the core's own commands. `erp-assistant import export",
        "FOLDER` writes a database's master data and opening balances as these files: users without passwords,",
        "stock on hand at standard cost, open order lines still to come or to ship, invoices' open amounts (no",
        "transfers, shipments, drafts or history).",
        "",
        "Types: " + "; ".join(f"{name}: {doc}" for name, doc in TYPE_DOCS.items()) + ".",
        "",
        "Kinds, in load order: " + ", ".join(k.name for k in KINDS) + ".",
        "",
    ]
    for kind in KINDS:
        lines += _kind_section(kind)
    return "\n".join(lines).rstrip() + "\n"
