"""Late-order risk: open order lines that will likely miss their promise date, with the reason and the options.

The lines judged are those of confirmed and partly shipped orders with units not yet reserved for them (drafts
and orders on hold have promised nothing yet; a credit hold is its own case).

How this differs from the shortage case (core/exceptions/detection.py): a shortage is a *state* of today - a
line backordered, or promised later than the customer asked. It says nothing about whether the promise itself
will hold. Late-order risk looks *forward* at the date the customer was promised (the requested date where no
promise was given) and asks whether the units the line still lacks will be there by then:

- **stock**: the units not reserved for it (after the backorders ahead of it in the queue, which are served
  first) are covered by no supply known, or only by supply due after the promise;
- **supplier**: the purchase order that covers them is due in time, but its supplier's record (the
  `lateness_quantile` of its orders' days late in the last `lookback_days`, from the receipts) pushes the
  arrival past the promise;
- **transfer**: the covering supply is a transfer arriving after the promise.

So a line can be short and not at risk (promised late, and the supply will make that promise), and at risk
without a new shortage (its backorder was promised on a PO whose supplier runs late). When a line has both, the
risk names the running shortage case. A fully reserved line can ship now and is never at risk here.

One finding per line (LATE_ORDER_RISK, key "late_order_risk:sales_order_line:<id>") with the figures and the
options the shortage suggestions already compute (another warehouse, a transfer, a substitute, the next PO),
plus a split (ship the reserved part now). Where one option is a clear draft it is the proposal: an
order_change moving the line to a warehouse with all of it free, else a transfer covering the shortfall in time.
Impact: the open value of the line, in the order's (its entity's) currency.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.exceptions.findings import Finding, Proposal
from core.exceptions.models import ExceptionCase, ExceptionType, Severity
from core.exceptions.suggestions import ShortLine, StockPicture, incoming_with_sources, short_line_query, suggest_for
from core.money import format_money, round_money
from core.numbering import EXCEPTION_CASE, PURCHASE_ORDER, TRANSFER
from core.planning.config import planning_section
from core.planning.suppliers import supplier_lateness, typical_lateness
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.stock.models import Reservation
from core.stock.priority import ranked_claims
from core.transfers.models import TransferStatus

SHIPPING_STATUSES = (OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value)
STOCK, SUPPLIER, TRANSFER_CAUSE = "stock", "supplier", "transfer"


class LateOrderSettings(BaseModel):
    """The `late_orders:` section of the planning file."""

    lookback_days: int = Field(180, ge=14, le=1095)  # the supplier record read
    lateness_quantile: float = Field(0.5, ge=0.5, le=1)  # "typically late": this quantile of its orders' days late
    min_orders: int = Field(5, ge=1)  # a supplier with fewer orders due in the window is taken at its word
    urgent_days: int = Field(3, ge=0)  # high severity when the promise is this close (or past)


def settings() -> LateOrderSettings:
    return planning_section("late_orders", LateOrderSettings)


# --- the rule, pure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supply:
    """Supply due into the line's warehouse: a purchase-order line or an inbound transfer."""

    due: date
    quantity: int
    document: str  # "PO-12", "TR-3"
    kind: str  # "purchase_order" or "transfer"
    supplier: str | None = None
    late_days: int = 0  # the supplier's typical days late (0 for a transfer)

    def arrives(self, as_of: date) -> date:
        """When it will likely be there: its due date plus the supplier's typical lateness, not before `as_of`."""
        return max(as_of, self.due + timedelta(days=self.late_days))


@dataclass(frozen=True)
class Risk:
    cause: str  # stock, supplier or transfer
    due: date  # the promise (or requested) date
    ready: date | None  # when the line's missing units likely arrive; None: no known supply covers them
    short: int  # units of the line not reserved
    ahead: int  # units backordered ahead of it in the queue
    covering: Supply | None
    reason: str

    @property
    def days_late(self) -> int | None:
        return None if self.ready is None else (self.ready - self.due).days


def assess_line(*, due: date, short: int, ahead: int, free: int, supply: Sequence[Supply], as_of: date) -> Risk | None:
    """Whether a line lacking `short` units (with `ahead` units queued before it and `free` units unclaimed at its
    warehouse) will have them by `due`, given the supply due there; a Risk with the cause when it will not."""
    if short <= 0:
        return None
    need = max(0, ahead + short - free)
    if need == 0:
        return None
    running, covering = 0, None
    for item in sorted(supply, key=lambda s: (s.arrives(as_of), s.due, s.document)):
        running += item.quantity
        if running >= need:
            covering = item
            break
    queue = f"{ahead} backordered ahead of it, {free} free" if ahead or free else "nothing free"
    if covering is None:
        coming = sum(s.quantity for s in supply)
        return Risk(
            STOCK, due, None, short, ahead, None,
            f"{short} not reserved ({queue}); {coming} coming in all, not enough to reach it",
        )  # fmt: skip
    ready = covering.arrives(as_of)
    if ready <= due:
        return None
    if covering.kind == "transfer":
        arrival = f"was due {covering.due} and has not arrived" if covering.due < as_of else f"arrives {covering.due}"
        cause, why = TRANSFER_CAUSE, f"{covering.document} {arrival}, after {due}"
    elif covering.due > due:
        cause, why = STOCK, f"the supply that reaches it, {covering.document}, is due {covering.due}, after {due}"
    elif covering.due < as_of:
        cause = SUPPLIER
        why = f"{covering.document} from {covering.supplier} was due {covering.due} and has not come"
    else:
        cause = SUPPLIER
        why = (
            f"{covering.document} from {covering.supplier} is due {covering.due}, but {covering.supplier}'s orders "
            f"typically run {covering.late_days} day(s) late, so about {ready}"
        )
    return Risk(cause, due, ready, short, ahead, covering, f"{short} not reserved ({queue}); {why}")


# --- reading the state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenLine:
    line: ShortLine
    qty_shipped: int
    net_price: Decimal
    currency: str
    reservation_id: int | None

    @property
    def due(self) -> date:
        return self.line.promise_date or self.line.requested_date


def open_lines(session: Session, entity_ids: Collection[int] | None) -> list[OpenLine]:
    """Lines of orders being shipped with units not reserved for them."""
    query = short_line_query().add_columns(
        SalesOrderLine.qty_shipped, SalesOrderLine.net_price, SalesOrder.currency, Reservation.id
    )
    query = query.where(
        SalesOrder.status.in_(SHIPPING_STATUSES),
        SalesOrderLine.quantity - SalesOrderLine.qty_shipped > func.coalesce(Reservation.quantity, 0),
    )
    if entity_ids is not None:
        query = query.where(SalesOrder.entity_id.in_(sorted(entity_ids)))
    return [
        OpenLine(ShortLine(*row[:14]), int(row[14]), Decimal(row[15]), str(row[16]), row[17])
        for row in session.execute(query)
    ]


def queue_ahead(session: Session, keys: list[tuple[int, int]]) -> dict[int, int]:
    """For each waiting claim (reservation id) on these keys: the units backordered ahead of it in its queue."""
    ahead: dict[int, int] = {}
    running: dict[tuple[int, int], int] = {}
    for claim in ranked_claims(session, keys, waiting=True):
        key = (claim.reservation.item_id, claim.reservation.warehouse_id)
        ahead[claim.reservation.id] = running.get(key, 0)
        running[key] = running.get(key, 0) + claim.reservation.backordered
    return ahead


def supply_due(
    session: Session, keys: set[tuple[int, int]], late_days: dict[int, int]
) -> dict[tuple[int, int], list[Supply]]:
    """Open supply into these keys, each with its document and, for a PO, its supplier's typical lateness."""
    if not keys:
        return {}
    rows = session.execute(incoming_with_sources(sorted({i for i, _ in keys}), sorted({w for _, w in keys}))).all()
    found: dict[tuple[int, int], list[Supply]] = {}
    for item_id, warehouse_id, due, quantity, po_id, supplier_id, supplier, transfer_id, status in rows:
        if (item_id, warehouse_id) not in keys:
            continue
        if po_id is not None:
            entry = Supply(due, quantity, PURCHASE_ORDER.format(po_id), "purchase_order", supplier,
                           late_days.get(supplier_id, 0))  # fmt: skip
        else:
            label = TRANSFER.format(transfer_id) + (" (in transit)" if status == TransferStatus.IN_TRANSIT else "")
            entry = Supply(due, quantity, label, "transfer")
        found.setdefault((item_id, warehouse_id), []).append(entry)
    return found


def typical_delays(
    session: Session, *, as_of: date, config: LateOrderSettings, entity_ids: Collection[int] | None
) -> dict[int, int]:
    """Each supplier's typical days late, from its orders due in the window before `as_of`."""
    delays = supplier_lateness(session, as_of=as_of, lookback_days=config.lookback_days, entity_ids=entity_ids)
    return {s: typical_lateness(d, config.lateness_quantile, config.min_orders) for s, d in delays.items()}


def find_late_order_risks(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
    """A LATE_ORDER_RISK finding for each open line that will likely miss its promise (or requested) date."""
    config = settings()
    lines = open_lines(session, entity_ids)
    if not lines:
        return []
    keys = {(ol.line.item_id, ol.line.warehouse_id) for ol in lines}
    ahead = queue_ahead(session, sorted(keys))
    supply = supply_due(session, keys, typical_delays(session, as_of=as_of, config=config, entity_ids=entity_ids))
    picture = StockPicture(session, {i for i, _ in keys}, {w for _, w in keys})
    risky: list[tuple[OpenLine, Risk]] = []
    for ol in lines:
        key = (ol.line.item_id, ol.line.warehouse_id)
        risk = assess_line(
            due=ol.due,
            short=ol.line.short,
            ahead=ahead.get(ol.reservation_id or 0, 0),
            free=picture.at(key).free,
            supply=supply.get(key, []),
            as_of=as_of,
        )
        if risk is not None:
            risky.append((ol, risk))
    if not risky:
        return []
    options = suggest_for(session, [ol.line for ol, _ in risky], today=as_of)
    shortages = _running_shortages(session, [ol.line.line_id for ol, _ in risky])
    return [
        risk_finding(ol, risk, options[ol.line.line_id], shortages.get(ol.line.line_id), as_of, config)
        for ol, risk in risky
    ]


def _running_shortages(session: Session, line_ids: list[int]) -> dict[int, str]:
    """The running shortage case of each line that has one: its number, by line id."""
    keys = {f"{ExceptionType.SHORTAGE.value}:sales_order_line:{i}": i for i in line_ids}
    found = {}
    for start in range(0, len(keys), 500):
        batch = list(keys)[start : start + 500]
        for case_id, condition in session.execute(
            select(ExceptionCase.id, ExceptionCase.condition_key).where(
                ExceptionCase.condition_key.in_(batch), ExceptionCase.ended_at.is_(None)
            )
        ):
            found[keys[str(condition)]] = EXCEPTION_CASE.format(case_id)
    return found


# --- the finding -------------------------------------------------------------------------------------


def split_option(ol: OpenLine, risk: Risk) -> dict[str, Any] | None:
    """Ship what is reserved now and the rest when it comes: a partial shipment, no draft needed to decide it."""
    reserved = ol.line.open_quantity - risk.short
    if reserved <= 0:
        return None
    later = f"about {risk.ready}" if risk.ready else "when supply is found"
    return {
        "kind": "split",
        "text": f"ship the {reserved} {ol.line.sku} reserved now and the other {risk.short} {later}",
        "ship_now": reserved,
        "ship_later": risk.short,
    }


def proposal_for(ol: OpenLine, risk: Risk, options: list[dict[str, Any]]) -> Proposal | None:
    """The clear draft, if one option is: move the whole line to a warehouse that has it all free (a line nothing
    has shipped from), else a transfer that covers what it lacks before the promise."""
    line = ol.line
    if ol.qty_shipped == 0:
        homes = [o for o in options if o["kind"] == "other_warehouse" and o["available_now"] >= line.open_quantity]
        if homes:
            best = max(homes, key=lambda o: o["available_now"])
            return Proposal(
                kind="order_change",
                payload={"order_number": line.order_number, "line_no": line.line_no, "warehouse": best["warehouse"]},
                summary=f"move {line.order_number} line {line.line_no} ({line.open_quantity} {line.sku}) from "
                f"{line.warehouse} to {best['warehouse']}, which has {best['available_now']} free",
            )
    for option in options:
        if (
            option["kind"] == "transfer"
            and option["covers"]
            and date.fromisoformat(option["expected_date"]) <= risk.due
        ):
            return Proposal(
                kind="transfer",
                payload={
                    "from_warehouse": option["from_warehouse"],
                    "to_warehouse": option["to_warehouse"],
                    "lines": [{"sku": option["sku"], "quantity": option["quantity"]}],
                },
                summary=f"transfer {option['quantity']} {option['sku']} from {option['from_warehouse']} to "
                f"{option['to_warehouse']} for {line.order_number} line {line.line_no}",
            )
    return None


def risk_finding(
    ol: OpenLine,
    risk: Risk,
    options: list[dict[str, Any]],
    shortage_case: str | None,
    as_of: date,
    config: LateOrderSettings,
) -> Finding:
    line = ol.line
    value = round_money(ol.net_price * line.open_quantity)
    promised = "promised" if line.promise_date else "requested"
    when = f"likely ready {risk.ready} ({risk.days_late} day(s) late)" if risk.ready else "no supply covers it"
    split = split_option(ol, risk)
    suggestions = [*([split] if split else []), *options]
    evidence: dict[str, Any] = {
        **line.identity(),
        "cause": risk.cause,
        "due_date": risk.due.isoformat(),
        "due_is": "promise_date" if line.promise_date else "requested_date",
        "requested_date": line.requested_date.isoformat(),
        "open_quantity": line.open_quantity,
        "reserved": line.open_quantity - risk.short,
        "short": risk.short,
        "backordered_ahead": risk.ahead,
        "likely_ready": risk.ready.isoformat() if risk.ready else None,
        "days_late": risk.days_late,
        "covering_supply": None
        if risk.covering is None
        else {
            "document": risk.covering.document,
            "due_date": risk.covering.due.isoformat(),
            "supplier": risk.covering.supplier,
            "supplier_typical_days_late": risk.covering.late_days,
        },
        "open_value": str(value),
        "currency": ol.currency,
        "shortage_case": shortage_case,
    }
    soon = risk.due <= as_of + timedelta(days=config.urgent_days)
    return Finding(
        type=ExceptionType.LATE_ORDER_RISK,
        entity_id=line.entity_id,
        key=f"late_order_risk:sales_order_line:{line.line_id}",
        severity=Severity.HIGH if soon else Severity.MEDIUM,
        title=f"{line.order_number} line {line.line_no} for {line.customer} at risk: {line.open_quantity} {line.sku} "
        f"{promised} {risk.due}, {when}",
        detail=(
            f"{line.customer} was {'promised' if line.promise_date else 'given no promise date; it asked for'} "
            f"{line.open_quantity} {line.sku} from {line.warehouse} by {risk.due}; "
            f"{risk.reason}. {when.capitalize()}. Open value {format_money(value, ol.currency)}."
            + (f" Also short: {shortage_case}." if shortage_case else "")
        ),
        evidence=evidence,
        impact=value,
        proposal=proposal_for(ol, risk, options),
        suggestions=suggestions,
    )
