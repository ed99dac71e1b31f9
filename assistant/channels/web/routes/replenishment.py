"""Replenishment planning: each item's levels in your warehouses and the purchase orders and transfers proposed."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from core.planning.replenishment_findings import (
    ReplenishmentView,
    document_finding,
    levels_evidence,
    line_evidence,
    replenishment_view,
)

router = APIRouter(prefix="/api/planning", tags=["planning"])
ERRORS = documented(401, 403, 404, 422)
Code = Annotated[str | None, Query(max_length=40)]


class ItemLevelFigures(BaseModel):
    """One item in one warehouse: the levels and every figure they come from (units, days, shares)."""

    sku: str
    warehouse: str
    abc_class: Literal["A", "B", "C"]
    service_level: float
    z: float
    forecast_method: str
    demand_per_week: float
    forecast_error_sd: float
    lead_time_days: float
    lead_time_sd_days: float
    lead_time_basis: str
    review_days: float
    demand_over_lead_time: float = Field(description="demand over the lead time and the review period")
    safety_stock: float
    reorder_point: float
    order_up_to: float
    on_hand: int
    on_order: int = Field(description="incoming: purchase-order lines and inbound transfers, those on the road too")
    in_transit: int
    reserved: int
    backordered: int
    position: int = Field(description="on hand + on order - reserved - backordered")
    projected_stockout: str | None = Field(description="the first day demand cannot be met in full, YYYY-MM-DD")
    stockout_within_lead_time: bool


class ProposedLineFigures(ItemLevelFigures):
    quantity: int
    need: float = Field(description="order-up-to level minus the position when this line was planned")
    rounding: str
    unit_cost: Decimal = Field(description="in the document's currency")
    from_warehouse: str | None = None
    source_on_hand: int | None = None
    source_free: int | None = None
    source_position: int | None = None
    source_reorder_point: float | None = None
    source_order_up_to: float | None = None
    transfer_price: Decimal | None = Field(None, description="intercompany: in the sender's currency")
    transfer_currency: str | None = None
    transfer_landed: Decimal | None = Field(None, description="intercompany: landed, in the receiver's currency")
    buy_landed: str | None = Field(None, description="buying instead, landed, in the receiver's currency")
    compared_in: str | None = None


class ProposedDocumentFigures(BaseModel):
    """A proposed purchase order or transfer: the case it becomes, its draft payload and its lines' figures."""

    key: str
    kind: Literal["purchase_order", "transfer"]
    title: str
    severity: str
    detail: str
    supplier: str | None
    from_warehouse: str | None
    warehouse: str
    intercompany: bool
    currency: str
    value: Decimal
    value_at_risk: Decimal = Field(description="list value of the demand uncovered within the lead time")
    entity_currency: str = Field(description="the receiving entity's currency, that of value_at_risk")
    payload: dict[str, Any] = Field(description="the draft's payload, as POST /api/drafts takes it")
    lines: list[ProposedLineFigures]


class ReplenishmentFigures(BaseModel):
    as_of: str
    items: list[ItemLevelFigures]
    proposals: list[ProposedDocumentFigures]
    unsourced: list[ItemLevelFigures] = Field(description="due items with no supplier and no surplus anywhere")


@router.get("/replenishment", response_model=ReplenishmentFigures, responses=ERRORS)
def replenishment(
    user: CurrentUser,
    svc: ServicesDep,
    entity: Annotated[str | None, Query(max_length=16)] = None,
    warehouse: Code = None,
    sku: Code = None,
    all_items: Annotated[bool, Query(alias="all", description="every item's levels, not only those due")] = False,
) -> ReplenishmentFigures:
    """Levels (safety stock, reorder point, order-up-to) of the items due in your entities' warehouses, or of all
    with all=true, and the purchase orders and transfers proposed, each with its figures; narrowed to an entity, a
    warehouse or an item. 403 for an entity or warehouse outside your scope, 404 for an unknown one."""
    view = svc.db.read(
        lambda s: replenishment_view(s, user.actor, entity=entity, warehouse=warehouse, sku=sku, due_only=not all_items)
    )
    return figures(view)


def figures(view: ReplenishmentView) -> ReplenishmentFigures:
    plan = view.plan
    proposals = []
    for document in view.documents:
        finding = document_finding(plan, document)
        assert finding.proposal is not None
        proposals.append(
            ProposedDocumentFigures(
                key=document.key,
                kind=document.kind,
                title=finding.title,
                severity=finding.severity.value,
                detail=finding.detail,
                supplier=document.supplier.supplier if document.supplier else None,
                from_warehouse=document.from_warehouse,
                warehouse=document.warehouse,
                intercompany=document.intercompany,
                currency=document.currency,
                value=document.value,
                value_at_risk=document.value_at_risk,
                entity_currency=document.entity_currency,
                payload=finding.proposal.payload,
                lines=[ProposedLineFigures.model_validate(line_evidence(plan, ln)) for ln in document.lines],
            )
        )
    return ReplenishmentFigures(
        as_of=plan.as_of.isoformat(),
        items=[ItemLevelFigures.model_validate(levels_evidence(plan, lv)) for lv in view.items],
        proposals=proposals,
        unsourced=[ItemLevelFigures.model_validate(levels_evidence(plan, lv)) for lv in view.unsourced],
    )
