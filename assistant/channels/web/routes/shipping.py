"""Fulfilment: where an order stands (shipments, tracking, milestones, what is open), shipping it through the
write gate, and recording a shipment's milestones (picked, packed, delivered)."""

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from assistant.channels.web import schemas
from assistant.channels.web.auth import WEB_CHANNEL, CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import API_CHANNEL, announced
from core.drafts.service import RequestContext, draft_action
from core.policy.facts import DraftKind
from core.shipping.service import FulfilmentView, ShipmentView, fulfilment_status, record_milestone, shipment_status

router = APIRouter(prefix="/api", tags=["shipping"])
ERRORS = documented(401, 403, 404, 409, 422)


def shipment_view(view: ShipmentView) -> schemas.ShipmentView:
    """A shipment as the API shows it."""
    return schemas.ShipmentView(
        number=view.number,
        order=view.order,
        warehouse=view.warehouse,
        shipped_on=view.shipped_on.isoformat(),
        carrier=view.carrier,
        service_level=view.service_level,
        tracking_number=view.tracking_number,
        packages=view.packages,
        weight_kg=view.weight_kg,
        invoice=view.invoice,
        milestones=[schemas.MilestoneView(milestone=m, at=at) for m, at in view.milestones],
        lines=[schemas.ShippedLineView(line_no=ln.line_no, sku=ln.sku, quantity=ln.quantity) for ln in view.lines],
    )


def fulfilment_view(view: FulfilmentView) -> schemas.Fulfilment:
    """An order's fulfilment as the API shows it."""
    order = view.order
    return schemas.Fulfilment(
        order=order.number,
        status=order.status,
        customer=order.customer,
        open_units=view.open_units,
        backordered_units=view.backordered_units,
        lines=[
            schemas.FulfilmentLine(
                line_no=ln.line_no,
                sku=ln.sku,
                warehouse=ln.warehouse,
                ordered=ln.quantity,
                shipped=ln.shipped,
                reserved=ln.reserved,
                backordered=ln.backordered,
                open=ln.quantity - ln.shipped,
            )
            for ln in order.lines
        ],
        shipments=[shipment_view(s) for s in view.shipments],
        charges=[
            schemas.ChargeView(
                kind=c.kind,
                amount=c.amount,
                currency=c.currency,
                carrier=c.carrier,
                reason=c.reason,
                billed=c.billed,
                treatment=c.treatment,
                shipment=c.shipment,
                invoice=c.invoice,
                charged_on=c.charged_on.isoformat(),
            )
            for c in view.charges
        ],
        margin_pct=order.margin.margin_pct if order.margin else None,
    )


@router.get("/orders/{number}/fulfilment", response_model=schemas.Fulfilment, responses=ERRORS)
def fulfilment(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.Fulfilment:
    """Where a sales order stands: each line's shipped, reserved, backordered and open units, every shipment
    with its warehouse, carrier, tracking and milestones, and its charges (expedited freight) and margin."""
    return svc.db.read(lambda s: fulfilment_view(fulfilment_status(s, user.actor, order_number=number)))


@router.post("/orders/{number}/shipments", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def ship(number: str, body: schemas.ShipmentRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Ship the order from one warehouse (or from each where its lines are reserved) as a `shipment` draft: the
    warehouse role ships (403 otherwise); over-shipping, an order not confirmed or another entity's order is
    refused. With `confirm` the policy decides at once (executed, or waiting for a manager above its limit)."""
    payload = {"order_number": number, **body.model_dump(mode="json", exclude={"confirm"})}
    ctx = RequestContext(user.actor, API_CHANNEL)
    drafted = await run_in_threadpool(
        svc.db.run,
        lambda s: draft_action(s, ctx, kind=DraftKind.SHIPMENT, payload=payload, confirmed=body.confirm).number,
    )
    return await announced(svc, user, drafted)


@router.get("/shipments/{number}", response_model=schemas.ShipmentView, responses=ERRORS)
def shipment(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.ShipmentView:
    """One shipment: where from, how it travels, its milestones, lines and invoice."""
    return svc.db.read(lambda s: shipment_view(shipment_status(s, user.actor, shipment_number=number)))


@router.post("/shipments/{number}/milestones", response_model=schemas.ShipmentView, responses=ERRORS)
def milestone(number: str, body: schemas.MilestoneRequest, user: CurrentUser, svc: ServicesDep) -> schemas.ShipmentView:
    """Record that a shipment was picked, packed or delivered (now, or at `at`); once each, in order, never in
    the future. Warehouse staff and managers only."""
    svc.db.run(
        lambda s: (
            record_milestone(
                s, user.actor, shipment_number=number, milestone=body.milestone, at=body.at, channel=WEB_CHANNEL
            ).id
        )
    )
    return shipment(number, user, svc)
