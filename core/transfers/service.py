"""Transfer commands: create (reserves at the source, dated supply at the destination), ship, receive, cancel.

An intercompany transfer is priced at standard cost plus the pair's markup; shipping it books
a due-from in the sender's books and the matching due-to in the receiver's, at one rate.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.documents import load_document
from core.errors import InvalidInput, InvalidState
from core.exceptions.models import ExceptionType, Severity
from core.exceptions.service import raise_case
from core.finance.models import IntercompanyPosting, PostingKind
from core.masterdata.service import (
    convert,
    exchange_rate,
    get_items,
    get_warehouse_in_scope,
    intercompany_markup,
    item_skus,
    warehouse_codes,
)
from core.money import round_money, round_unit_price
from core.numbering import TRANSFER
from core.outbox.service import publish
from core.sales.pricing import GROUP_CURRENCY
from core.stock.models import Bucket, DemandSource, Movement, SupplySource
from core.stock.service import (
    Key,
    Posting,
    check_quantity,
    incoming_for,
    open_posting,
    reservations_for,
)
from core.transfers.models import TRANSIT_DAYS, Transfer, TransferKind, TransferLine, TransferStatus


@dataclass(frozen=True)
class TransferLineRequest:
    sku: str
    quantity: int


def transfer_unit_price(standard_cost: Decimal, markup_pct: Decimal) -> Decimal:
    """Standard cost plus the markup percent, to four places."""
    return round_unit_price(standard_cost * (Decimal(100) + markup_pct) / Decimal(100))


def create_transfer(
    session: Session,
    actor: Actor,
    *,
    from_warehouse: str,
    to_warehouse: str,
    lines: Sequence[TransferLineRequest],
    expected_date: date | None = None,
) -> Transfer:
    """Move stock between warehouses; reserves it at the source now, so ATP there drops at once."""
    actor.require(Permission.TRANSFER)
    if not lines:
        raise InvalidInput("a transfer needs at least one line")
    for request in lines:
        check_quantity(request.quantity, f"quantity of {request.sku}")
    source = get_warehouse_in_scope(session, actor, code=from_warehouse)
    target = get_warehouse_in_scope(session, actor, code=to_warehouse)
    if source.id == target.id:
        raise InvalidInput(f"a transfer needs two different warehouses; both are {source.code}")
    kind = TransferKind.INTER_WAREHOUSE if source.entity_id == target.entity_id else TransferKind.INTERCOMPANY
    today = clock.today()
    expected = expected_date or today + timedelta(days=TRANSIT_DAYS[kind])
    if expected < today:
        raise InvalidInput(f"expected date {expected} is in the past")
    items = get_items(session, skus=[request.sku for request in lines])
    from_ccy, to_ccy = source.entity.base_currency, target.entity.base_currency
    cost_rate = exchange_rate(session, from_currency=GROUP_CURRENCY, to_currency=from_ccy, on=today)
    markup = (
        intercompany_markup(session, from_entity_id=source.entity_id, to_entity_id=target.entity_id)
        if kind is TransferKind.INTERCOMPANY
        else Decimal(0)
    )
    transfer = Transfer(
        kind=kind.value,
        status=TransferStatus.OPEN.value,
        from_warehouse_id=source.id,
        to_warehouse_id=target.id,
        from_entity_id=source.entity_id,
        to_entity_id=target.entity_id,
        from_currency=from_ccy,
        to_currency=to_ccy,
        exchange_rate=exchange_rate(session, from_currency=from_ccy, to_currency=to_ccy, on=today),
        expected_date=expected,
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    for request in lines:
        item = items[request.sku]
        cost = convert(Decimal(item.standard_cost), cost_rate)
        transfer.lines.append(
            TransferLine(
                item_id=item.id,
                quantity=request.quantity,
                unit_price=transfer_unit_price(cost, markup),
            )
        )
    session.add(transfer)
    session.flush()
    posting = open_posting(
        session,
        actor,
        _keys(transfer),
        "transfer",
        transfer.id,
    )
    for line in transfer.lines:
        posting.reserve(
            (line.item_id, source.id),
            DemandSource.TRANSFER_LINE,
            line.id,
            line.quantity,
            allow_backorder=False,
        )
        posting.add_incoming(
            (line.item_id, target.id),
            SupplySource.TRANSFER_LINE,
            line.id,
            line.quantity,
            expected,
        )
    session.flush()
    return transfer


def _keys(transfer: Transfer) -> list[Key]:
    return [(ln.item_id, w) for ln in transfer.lines for w in (transfer.from_warehouse_id, transfer.to_warehouse_id)]


def get_transfer(session: Session, actor: Actor, *, transfer_number: str | int, lock: bool = False) -> Transfer:
    """The transfer with its lines, if either of its entities (the sender or the receiver) is in scope."""
    transfer = load_document(session, Transfer, transfer_number, kind=TRANSFER, lock=lock, lines=Transfer.lines)
    if not actor.can_see(transfer.to_entity_id):
        actor.require_entity(transfer.from_entity_id, f"transfer {transfer.number}")
    return transfer


@dataclass(frozen=True)
class TransferSide:
    """A transfer's figures as one side books them: the sender at its price, the receiver at the shipment's rate."""

    entity_id: int
    currency: str
    value: Decimal
    unit_prices: dict[int, Decimal]  # by line id


def transfer_side(transfer: Transfer, actor: Actor) -> TransferSide:
    """The side of the transfer the actor belongs to (the sender's, when they see both), in its own currency."""
    if actor.can_see(transfer.from_entity_id):
        prices = {ln.id: Decimal(ln.unit_price) for ln in transfer.lines}
        return TransferSide(transfer.from_entity_id, transfer.from_currency, transfer_value(transfer), prices)
    rate = Decimal(transfer.exchange_rate)
    prices = {ln.id: round_unit_price(Decimal(ln.unit_price) * rate) for ln in transfer.lines}
    return TransferSide(transfer.to_entity_id, transfer.to_currency, receiver_value(transfer), prices)


def _open_posting(session: Session, actor: Actor, transfer: Transfer) -> Posting:
    return open_posting(session, actor, _keys(transfer), "transfer", transfer.id)


def ship_transfer(session: Session, actor: Actor, *, transfer_number: str | int) -> Transfer:
    """Take the reserved stock out of the source; it is in transit to the destination until received."""
    actor.require(Permission.MOVE_STOCK)
    transfer = get_transfer(session, actor, transfer_number=transfer_number, lock=True)
    actor.require_entity(transfer.from_entity_id, f"the sending side of transfer {transfer.number}")
    if transfer.status != TransferStatus.OPEN:
        raise InvalidState(f"{transfer.number} is {transfer.status}; only an open transfer ships")
    posting = _open_posting(session, actor, transfer)
    claims = reservations_for(session, DemandSource.TRANSFER_LINE, [ln.id for ln in transfer.lines])
    for line in transfer.lines:
        posting.consume(claims[line.id], line.quantity, Movement.TRANSFER_OUT)
        posting.move(
            (line.item_id, transfer.to_warehouse_id),
            Bucket.IN_TRANSIT,
            Movement.TRANSFER_IN_TRANSIT,
            line.quantity,
        )
    if transfer.kind == TransferKind.INTERCOMPANY:
        session.add_all(intercompany_postings(transfer))
    transfer.status = TransferStatus.IN_TRANSIT.value
    session.flush()
    _publish(session, "transfer.shipped", transfer, {"value": transfer_value(transfer)})
    return transfer


def _publish(session: Session, type: str, transfer: Transfer, figures: dict[str, object]) -> None:
    """A transfer's event: the sender's entity, and the receiver's as the counterparty (both sides see it)."""
    skus = item_skus(session, item_ids=[line.item_id for line in transfer.lines])
    warehouses = warehouse_codes(session, warehouse_ids=[transfer.from_warehouse_id, transfer.to_warehouse_id])
    publish(
        session,
        type=type,
        document_type="transfer",
        document_number=transfer.number,
        entity_id=transfer.from_entity_id,
        counterparty_entity_id=transfer.to_entity_id,
        payload={
            "transfer": transfer.number,
            "kind": transfer.kind,
            "from_warehouse": warehouses.get(transfer.from_warehouse_id),
            "to_warehouse": warehouses.get(transfer.to_warehouse_id),
            "lines": [{"sku": skus.get(line.item_id), "quantity": line.quantity} for line in transfer.lines],
            **figures,
        },
    )


def transfer_value(transfer: Transfer) -> Decimal:
    """The transfer's value in the sender's currency."""
    return round_money(sum((ln.unit_price * ln.quantity for ln in transfer.lines), Decimal(0)))


def receiver_value(transfer: Transfer) -> Decimal:
    """The transfer's value in the receiver's currency, at the rate fixed on the transfer (its due-to)."""
    return round_money(transfer_value(transfer) * transfer.exchange_rate)


def intercompany_postings(transfer: Transfer) -> list[IntercompanyPosting]:
    """The sender's due-from and the receiver's due-to for the same goods, each in its own currency."""
    value = transfer_value(transfer)
    at = clock.now()
    return [
        IntercompanyPosting(
            transfer_id=transfer.id,
            entity_id=transfer.from_entity_id,
            counterparty_entity_id=transfer.to_entity_id,
            kind=PostingKind.DUE_FROM.value,
            currency=transfer.from_currency,
            amount=value,
            posted_at=at,
        ),
        IntercompanyPosting(
            transfer_id=transfer.id,
            entity_id=transfer.to_entity_id,
            counterparty_entity_id=transfer.from_entity_id,
            kind=PostingKind.DUE_TO.value,
            currency=transfer.to_currency,
            amount=receiver_value(transfer),
            posted_at=at,
        ),
    ]


@dataclass(frozen=True)
class Arrival:
    """What became of one shipped line at the destination."""

    line: TransferLine
    sku: str
    good: int
    short: int
    damaged: int


def receive_transfer(
    session: Session,
    actor: Actor,
    *,
    transfer_number: str | int,
    received: dict[str, int] | None = None,
    damaged: dict[str, int] | None = None,
) -> Transfer:
    """Put what arrived on hand at the destination (waiting backorders there first), as its user.

    `received` gives the units that arrived by SKU (all shipped, by default) and `damaged` those of them unfit to
    stock; units short or damaged leave transit as a loss and raise a discrepancy case for the destination.
    """
    actor.require(Permission.MOVE_STOCK)
    transfer = get_transfer(session, actor, transfer_number=transfer_number, lock=True)
    actor.require_entity(transfer.to_entity_id, f"the receiving side of transfer {transfer.number}")
    if transfer.status != TransferStatus.IN_TRANSIT:
        raise InvalidState(f"{transfer.number} is {transfer.status}; only a transfer in transit can be received")
    arrivals = plan_arrivals(session, transfer, received or {}, damaged or {})
    posting = _open_posting(session, actor, transfer)
    supply = incoming_for(session, SupplySource.TRANSFER_LINE, [ln.id for ln in transfer.lines])
    destination = transfer.to_warehouse_id
    for arrival in arrivals:
        key = (arrival.line.item_id, destination)
        if arrival.good:
            posting.move(key, Bucket.IN_TRANSIT, Movement.TRANSFER_IN_TRANSIT, -arrival.good)
            posting.move(key, Bucket.ON_HAND, Movement.TRANSFER_IN, arrival.good)
        if arrival.short or arrival.damaged:
            posting.note = f"{arrival.short} short, {arrival.damaged} damaged"
            posting.move(key, Bucket.IN_TRANSIT, Movement.TRANSFER_LOSS, -(arrival.short + arrival.damaged))
            posting.note = ""
        posting.reduce_incoming(supply[arrival.line.id], supply[arrival.line.id].quantity)
    posting.allocate_backorders([(ln.item_id, destination) for ln in transfer.lines])
    transfer.status = TransferStatus.RECEIVED.value
    _raise_discrepancy(session, transfer, arrivals)
    session.flush()
    arrived = [{"sku": a.sku, "good": a.good, "short": a.short, "damaged": a.damaged} for a in arrivals]
    _publish(session, "transfer.received", transfer, {"arrived": arrived})
    return transfer


def plan_arrivals(
    session: Session, transfer: Transfer, received: dict[str, int], damaged: dict[str, int]
) -> list[Arrival]:
    """Each line's good, short and damaged units given the counts by SKU (absent: all arrived, none damaged);
    refuses SKUs not on the transfer and impossible counts."""
    skus = item_skus(session, item_ids=[ln.item_id for ln in transfer.lines])
    by_sku = {skus[ln.item_id].casefold(): ln for ln in transfer.lines}
    for sku in [*received, *damaged]:
        if sku.strip().casefold() not in by_sku:
            raise InvalidInput(f"{transfer.number} carries no {sku}; it carries {', '.join(sorted(skus.values()))}")
    counts = {k.strip().casefold(): v for k, v in received.items()}
    broken = {k.strip().casefold(): v for k, v in damaged.items()}
    arrivals = []
    for key, line in by_sku.items():
        sku = skus[line.item_id]
        arrived = _count(counts.get(key, line.quantity), f"units of {sku} received", most=line.quantity)
        bad = _count(broken.get(key, 0), f"damaged units of {sku}", most=arrived)
        arrivals.append(Arrival(line, sku, good=arrived - bad, short=line.quantity - arrived, damaged=bad))
    return arrivals


def _count(value: object, what: str, *, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number, got {value!r}")
    if value < 0 or value > most:
        raise InvalidInput(f"{what} must be between 0 and {most} (what was shipped or arrived), got {value}")
    return value


def _raise_discrepancy(session: Session, transfer: Transfer, arrivals: list[Arrival]) -> None:
    """A case for the destination when units arrived short or damaged."""
    off = [a for a in arrivals if a.short or a.damaged]
    if not off:
        return
    parts = [f"{a.sku}: {a.line.quantity} shipped, {a.short} short, {a.damaged} damaged" for a in off]
    raise_case(
        session,
        type=ExceptionType.TRANSFER_DISCREPANCY,
        entity_id=transfer.to_entity_id,
        dedup_key=f"transfer_discrepancy:{transfer.number}",
        severity=Severity.MEDIUM,
        title=f"{transfer.number} arrived short or damaged",
        detail="; ".join(parts),
        related={
            "transfer": transfer.number,
            "lines": [{"sku": a.sku, "shipped": a.line.quantity, "short": a.short, "damaged": a.damaged} for a in off],
        },
    )


def cancel_transfer(session: Session, actor: Actor, *, transfer_number: str | int) -> Transfer:
    """Cancel a transfer that has not shipped: the source gets its stock back, the supply disappears."""
    actor.require(Permission.TRANSFER)
    transfer = get_transfer(session, actor, transfer_number=transfer_number, lock=True)
    actor.require_entity(transfer.from_entity_id, f"the sending side of transfer {transfer.number}")
    if transfer.status != TransferStatus.OPEN:
        raise InvalidState(f"{transfer.number} is {transfer.status}; only an open transfer can be cancelled")
    posting = _open_posting(session, actor, transfer)
    ids = [ln.id for ln in transfer.lines]
    for claim in reservations_for(session, DemandSource.TRANSFER_LINE, ids).values():
        posting.release(claim)
    for supply in incoming_for(session, SupplySource.TRANSFER_LINE, ids).values():
        posting.reduce_incoming(supply, supply.quantity)
    posting.allocate_backorders([(ln.item_id, transfer.from_warehouse_id) for ln in transfer.lines])
    transfer.status = TransferStatus.CANCELLED.value
    session.flush()
    return transfer
