"""Replenishment from the terminal: each item's levels and the purchase orders and transfers proposed, with numbers."""

from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console
from core.money import format_money
from core.planning.replenishment_findings import ReplenishmentView, document_finding, replenishment_view
from core.planning.replenishment_levels import ItemLevels
from core.planning.replenishment_plan import ProposedDocument

replenish_app = typer.Typer(
    help="Replenishment: reorder points and safety stock per item and warehouse, and the proposed POs and transfers."
)


@replenish_app.command("plan")
def plan(
    entity: Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")] = None,
    warehouse: Annotated[str | None, typer.Option(help="One warehouse, e.g. DAL.")] = None,
    sku: Annotated[str | None, typer.Option(help="One item.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every item's levels, not only those due.")] = False,
    user: Annotated[str, typer.Option(help="Act as this user.")] = DEFAULT_USER,
) -> None:
    """The levels of the items at or below their reorder point and the documents proposed to restock them."""
    view = ask(
        user,
        lambda s, actor: replenishment_view(
            s, actor, entity=entity, warehouse=warehouse, sku=sku, due_only=not all_items
        ),
    )
    _print_levels(view, all_items)
    for document in view.documents:
        _print_document(view, document)
    for lv in view.unsourced:
        console.print(f"{lv.sku} at {lv.warehouse}: due, but no supplier is known and no warehouse has surplus")
    if not view.documents:
        console.print(f"nothing to replenish as of {view.plan.as_of}")


def _print_levels(view: ReplenishmentView, all_items: bool) -> None:
    table = Table(title=f"{'Levels' if all_items else 'Items due'} as of {view.plan.as_of}")
    columns = (
        "warehouse",
        "sku",
        "class",
        "service",
        "per week",
        "method",
        "lead time",
        "LT demand",
        "safety",
        "reorder pt",
        "order-up-to",
        "on hand",
        "on order",
        "reserved",
        "backord.",
        "position",
        "stock-out",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("warehouse", "sku", "method", "stock-out") else "right")
    for lv in view.items:
        table.add_row(*_level_cells(lv))
    console.print(table)


def _level_cells(lv: ItemLevels) -> tuple[str, ...]:
    p, levels = lv.position, lv.levels
    return (
        lv.warehouse,
        lv.sku,
        lv.abc,
        f"{lv.service_level:.0%}",
        f"{lv.mean_weekly:.1f}",
        lv.method,
        f"{lv.lead_time.days:.1f}±{lv.lead_time.sd_days:.1f}d",
        f"{levels.lead_time_demand:.1f}",
        f"{levels.safety_stock:.1f}",
        f"{levels.reorder_point:.1f}",
        f"{levels.order_up_to:.1f}",
        str(p.on_hand),
        str(p.incoming),
        str(p.reserved),
        str(p.backordered),
        str(p.projected),
        lv.stockout.isoformat() if lv.stockout else "-",
    )


def _print_document(view: ReplenishmentView, document: ProposedDocument) -> None:
    finding = document_finding(view.plan, document)
    table = Table(title=f"{finding.title} ({finding.severity.value}): {document.key}")
    for column in ("sku", "quantity", "need", "how", "unit cost", "position", "reorder pt", "stock-out", "from"):
        table.add_column(column, justify="left" if column in ("sku", "how", "stock-out", "from") else "right")
    for line in document.lines:
        lv = line.target
        origin = line.origin
        table.add_row(
            lv.sku,
            str(line.quantity),
            f"{line.need:.1f}",
            line.rounding,
            f"{line.unit_cost} {document.currency}",
            str(lv.position.projected),
            f"{lv.levels.reorder_point:.1f}",
            lv.stockout.isoformat() if lv.stockout else "-",
            f"{origin.warehouse} (position {origin.position.projected}, up-to {origin.levels.order_up_to:.1f})"
            if origin
            else "-",
        )
    console.print(table)
    value = format_money(document.value, document.currency)
    at_risk = format_money(document.value_at_risk, document.entity_currency)
    console.print(f"value {value}; sales at risk within the lead time {at_risk}", highlight=False, markup=False)
    for line in document.lines:
        if line.comparison:
            c = line.comparison
            console.print(
                f"{line.target.sku}: intercompany landed {c['transfer_landed']} {c['compared_in']} against buying "
                f"{c['buy_landed']} {c['compared_in']}",
                highlight=False,
                markup=False,
            )
