"""Replenishment's findings: one case per proposed document, with the figures of each line and the draft to open.

`find_replenishment` turns the plan (`core.planning.replenishment_plan`) into findings keyed by the document
("replenishment:po:KEYSTONE:DAL", "replenishment:transfer:ATL:DAL"); `sync_replenishment` keeps the exception
queue in step with them and closes a case whose document is no longer proposed, saying why (its items are now
covered, or proposed in another document). `replenishment_view` is what a person asks for: the plan in their
entities, narrowed to a warehouse or an item.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.drafts.kinds import PurchaseLineDraft, PurchaseOrderDraft, StockLineDraft, TransferDraft
from core.errors import InvalidInput
from core.exceptions.findings import Finding, Proposal, Synced, sync_findings
from core.exceptions.models import ExceptionCase, ExceptionType, Severity
from core.masterdata.service import get_entity, get_items, get_warehouse_in_scope
from core.money import format_money
from core.planning.replenishment_levels import ItemLevels
from core.planning.replenishment_plan import (
    ProposedDocument,
    ProposedLine,
    ReplenishmentPlan,
    plan_replenishment,
)

MAX_LOOKBACK_DAYS = 366  # a person's view plans as of today or a day of the past year


def find_replenishment(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
    """One finding per proposed purchase order or transfer in these entities (None: all), with its draft."""
    plan = plan_replenishment(session, as_of=as_of, entity_ids=entity_ids)
    return findings_of(plan)


def findings_of(plan: ReplenishmentPlan) -> list[Finding]:
    """The plan's documents as findings."""
    return [document_finding(plan, document) for document in plan.documents]


def sync_replenishment(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> Synced:
    """Bring the replenishment cases of these entities (None: all) in step with today's proposals."""
    plan = plan_replenishment(session, as_of=as_of, entity_ids=entity_ids)
    return sync_findings(
        session,
        ExceptionType.REPLENISHMENT,
        findings_of(plan),
        scope=entity_ids,
        gone=lambda case: gone_reason(plan, case),
    )


def gone_reason(plan: ReplenishmentPlan, case: ExceptionCase) -> str:
    """Why a proposed document is no longer proposed, item by item: covered now, or proposed elsewhere."""
    lines = ((case.related or {}).get("evidence") or {}).get("lines") or []
    by_name = {(lv.sku, lv.warehouse): lv for lv in plan.items}
    reasons = []
    for line in lines:
        sku, warehouse = str(line.get("sku")), str(line.get("warehouse"))
        levels = by_name.get((sku, warehouse))
        if levels is None:
            reasons.append(f"{sku} at {warehouse} is no longer planned")
        elif not levels.due:
            reasons.append(
                f"{sku} at {warehouse} is covered: position {levels.position.projected} "
                f"({_position_words(levels)}) is above its reorder point {levels.levels.reorder_point:.1f}"
            )
        else:
            elsewhere = [d.key for d in plan.covering(levels.key)]
            where = f"now proposed in {', '.join(elsewhere)}" if elsewhere else "no longer proposed"
            reasons.append(f"{sku} at {warehouse} is still due but {where}")
    summary = "; ".join(reasons) if reasons else "the analysis no longer proposes it"
    return f"No longer proposed on {plan.as_of}: {summary}."


# --- One finding -------------------------------------------------------------------------------------------


def document_finding(plan: ReplenishmentPlan, document: ProposedDocument) -> Finding:
    """One proposed document as a finding: its key, severity, words, figures and draft."""
    urgent = [ln for ln in document.lines if ln.target.short_within(plan.as_of, ln.target.lead_time.days)]
    proposal = _proposal(document)
    return Finding(
        type=ExceptionType.REPLENISHMENT,
        entity_id=document.entity_id,
        key=document.key,
        severity=Severity.HIGH if urgent else Severity.MEDIUM,
        title=_title(document),
        detail=_detail(plan, document, urgent),
        evidence=_evidence(plan, document),
        impact=document.value_at_risk,
        proposal=proposal,
    )


def _title(document: ProposedDocument) -> str:
    count = f"{len(document.lines)} item{'s' if len(document.lines) != 1 else ''}"
    if document.kind == "purchase_order":
        assert document.supplier is not None
        return f"Reorder {count} from {document.supplier.supplier} into {document.warehouse}"
    kind = "Intercompany transfer" if document.intercompany else "Transfer"
    return f"{kind} of {count} {document.from_warehouse} → {document.warehouse}"


def _proposal(document: ProposedDocument) -> Proposal:
    parts = ", ".join(f"{ln.quantity} {ln.target.sku}" for ln in document.lines)
    value = format_money(document.value, document.currency)
    if document.kind == "purchase_order":
        assert document.supplier is not None
        po = PurchaseOrderDraft(
            supplier=document.supplier.supplier,
            warehouse=document.warehouse,
            lines=[
                PurchaseLineDraft(
                    sku=ln.target.sku, quantity=ln.quantity, unit_cost=ln.unit_cost if ln.priced else None
                )
                for ln in document.lines
            ],
        )
        summary = f"PO to {document.supplier.supplier} for {parts} into {document.warehouse}, about {value}"
        return Proposal("purchase_order", po.model_dump(mode="json", exclude_none=True), summary)
    assert document.from_warehouse is not None
    transfer = TransferDraft(
        from_warehouse=document.from_warehouse,
        to_warehouse=document.warehouse,
        lines=[StockLineDraft(sku=ln.target.sku, quantity=ln.quantity) for ln in document.lines],
    )
    summary = f"Transfer {parts} from {document.from_warehouse} to {document.warehouse}, about {value}"
    return Proposal("transfer", transfer.model_dump(mode="json", exclude_none=True), summary)


def _detail(plan: ReplenishmentPlan, document: ProposedDocument, urgent: list[ProposedLine]) -> str:
    head = _title(document) + f" ({format_money(document.value, document.currency)})."
    if urgent:
        head += f" {len(urgent)} of them will run out within the supplier's lead time."
    return "\n".join([head, *(_line_words(plan, document, ln) for ln in document.lines)])


def _line_words(plan: ReplenishmentPlan, document: ProposedDocument, line: ProposedLine) -> str:
    lv = line.target
    out = (
        f"runs out {lv.stockout}" if lv.stockout else f"no stock-out within {plan.settings.stockout_horizon_days} days"
    )
    words = (
        f"- {lv.sku} at {lv.warehouse}: position {lv.position.projected} ({_position_words(lv)}) is at or below the "
        f"reorder point {lv.levels.reorder_point:.1f} (demand over lead time and review "
        f"{lv.levels.lead_time_demand:.1f} + safety stock {lv.levels.safety_stock:.1f}; class {lv.abc}, service "
        f"{lv.service_level:.0%}, lead time {lv.lead_time.days:.1f} ± {lv.lead_time.sd_days:.1f} days, forecast "
        f"{lv.mean_weekly:.1f}/week by {lv.method}); {out}. "
    )
    if line.origin is not None:
        words += (
            f"Send {line.quantity} of {line.origin.warehouse}'s surplus (position {line.origin.position.projected}, "
            f"order-up-to {line.origin.levels.order_up_to:.1f})"
        )
        if line.comparison:
            c = line.comparison
            words += (
                f": transfer landed {c['transfer_landed']} {c['compared_in']} against buying at "
                f"{c['buy_landed']} {c['compared_in']}"
            )
        return words + "."
    return words + f"Order {line.quantity} ({line.rounding}) at {line.unit_cost} {document.currency}."


def _position_words(lv: ItemLevels) -> str:
    p = lv.position
    return f"on hand {p.on_hand} + on order {p.incoming} - reserved {p.reserved} - backordered {p.backordered}"


def _evidence(plan: ReplenishmentPlan, document: ProposedDocument) -> dict[str, Any]:
    head: dict[str, Any] = {
        "document": document.kind,
        "warehouse": document.warehouse,
        "value": str(document.value),
        "currency": document.currency,
        "value_at_risk": str(document.value_at_risk),
        "entity_currency": document.entity_currency,
        "as_of": plan.as_of.isoformat(),
    }
    if document.kind == "purchase_order":
        assert document.supplier is not None
        head |= {"supplier": document.supplier.supplier, "source": document.supplier.basis}
    else:
        head |= {"from_warehouse": document.from_warehouse, "intercompany": document.intercompany}
    return head | {"lines": [line_evidence(plan, ln) for ln in document.lines]}


def line_evidence(plan: ReplenishmentPlan, line: ProposedLine) -> dict[str, Any]:
    """The figures behind one proposed line, by name."""
    lv = line.target
    figures = levels_evidence(plan, lv) | {
        "quantity": line.quantity,
        "need": line.need,
        "rounding": line.rounding,
        "unit_cost": str(line.unit_cost),
    }
    if line.origin is not None:
        o = line.origin
        figures |= {
            "from_warehouse": o.warehouse,
            "source_on_hand": o.position.on_hand,
            "source_free": o.position.free,
            "source_position": o.position.projected,
            "source_reorder_point": round(o.levels.reorder_point, 1),
            "source_order_up_to": round(o.levels.order_up_to, 1),
        }
        figures |= line.comparison
    return figures


def levels_evidence(plan: ReplenishmentPlan, lv: ItemLevels) -> dict[str, Any]:
    """One item's levels in one warehouse and the figures they come from."""
    p = lv.position
    return {
        "sku": lv.sku,
        "warehouse": lv.warehouse,
        "abc_class": lv.abc,
        "service_level": lv.service_level,
        "z": round(lv.levels.z, 3),
        "forecast_method": lv.method,
        "demand_per_week": round(lv.mean_weekly, 2),
        "forecast_error_sd": round(lv.estimate.error_sd, 2) if lv.estimate else 0.0,
        "lead_time_days": round(lv.lead_time.days, 1),
        "lead_time_sd_days": round(lv.lead_time.sd_days, 1),
        "lead_time_basis": lv.lead_time.basis,
        "review_days": plan.settings.review_days,
        "demand_over_lead_time": round(lv.levels.lead_time_demand, 1),
        "safety_stock": round(lv.levels.safety_stock, 1),
        "reorder_point": round(lv.levels.reorder_point, 1),
        "order_up_to": round(lv.levels.order_up_to, 1),
        "on_hand": p.on_hand,
        "on_order": p.incoming,
        "in_transit": p.in_transit,
        "reserved": p.reserved,
        "backordered": p.backordered,
        "position": p.projected,
        "projected_stockout": lv.stockout.isoformat() if lv.stockout else None,
        "stockout_within_lead_time": lv.short_within(plan.as_of, lv.lead_time.days),
    }


# --- What a person asks for ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplenishmentView:
    """The plan in a person's entities, narrowed to a warehouse and/or an item: the levels of the items due (or
    all of them), the documents that touch what was asked, and the due items nobody can supply."""

    plan: ReplenishmentPlan
    items: list[ItemLevels]
    documents: list[ProposedDocument]
    unsourced: list[ItemLevels]


def replenishment_view(
    session: Session,
    actor: Actor,
    *,
    as_of: date | None = None,
    entity: str | None = None,
    warehouse: str | None = None,
    sku: str | None = None,
    due_only: bool = True,
) -> ReplenishmentView:
    """Levels and proposals in the actor's entities (or one of them), as a run over those entities computes them
    (today's, or as of an earlier day's history: positions are always today's)."""
    today = clock.today()
    day = as_of or today
    if not today - timedelta(days=MAX_LOOKBACK_DAYS) <= day <= today:
        raise InvalidInput(f"plan as of a day in the {MAX_LOOKBACK_DAYS} days up to today ({today}), not {day}")
    scope = set(actor.entity_ids)
    if entity is not None:
        chosen = get_entity(session, code=entity.strip().upper())
        actor.require_entity(chosen.id, f"entity {entity.strip()}")
        scope = {chosen.id}
    wh = None
    if warehouse is not None:
        found = get_warehouse_in_scope(session, actor, code=warehouse)
        if found.entity_id not in scope:
            raise InvalidInput(f"warehouse {found.code} is not one of {str(entity).strip().upper()}'s; leave out one")
        wh = found.code
    item = next(iter(get_items(session, skus=[sku]).values())).sku if sku else None
    plan = plan_replenishment(session, as_of=day, entity_ids=scope)

    def wanted(lv: ItemLevels) -> bool:
        return (wh is None or lv.warehouse == wh) and (item is None or lv.sku == item)

    def touches(document: ProposedDocument) -> bool:
        return any(wanted(ln.target) or (ln.origin is not None and wanted(ln.origin)) for ln in document.lines)

    items = [lv for lv in plan.items if wanted(lv) and (lv.due or not due_only)]
    documents = [d for d in plan.documents if touches(d)]
    return ReplenishmentView(plan, items, documents, [lv for lv in plan.unsourced if wanted(lv)])
