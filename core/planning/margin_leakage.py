"""Margin leakage: where sales gave away margin, one finding per customer with the lines as evidence.

Over the orders placed in the `lookback_days` before `as_of` (drafts and cancelled orders aside), four rules:

- **below floor**: a line whose realised margin (what shipped, at net price against the cost at order time) is
  below the floor of the customer's tier, and a customer whose realised margin over the window is;
- **discount out of pattern**: a discount more than `discount_gap_pts` points above what the customer usually
  gets - the larger of its discounts' `discount_quantile` and their median plus `discount_mads` robust standard
  deviations (1.4826 x MAD), over its lines of the `history_days` before `as_of` - for a customer with at least
  `min_history` lines; judged against the customer's own history, so a tier that always gets 5% is not flagged;
- **below contract**: a line sold at a net price below the customer's contract price for the item on the
  order date;
- **expedite**: absorbed expedite charges that take an order's margin below the floor (`order_margin`, the one
  margin rule of an order, shared with the order view).

Money lost (the finding's impact, in the entity's currency) is, per line, what the price gave away against the
floor price (cost / (1 - floor)), against the usual discount, or against the contract (whichever is largest,
so a line is never counted twice), plus the absorbed charges that broke an order's floor. A customer is raised
when its leaks lost at least `min_impact`, or its realised margin over the window is below its floor. Each
customer's finding (key "margin_leakage:customer:<id>") lists its worst lines (at most `max_lines`) and counts
the rest.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.exceptions.findings import Finding
from core.exceptions.models import ExceptionType, Severity
from core.masterdata.models import ContractPrice, Customer, Item
from core.money import format_money, round_money
from core.numbering import SALES_ORDER
from core.planning.config import planning_section
from core.planning.suppliers import quantile
from core.sales.charges import order_margin
from core.sales.models import OrderCharge, OrderStatus, SalesOrder, SalesOrderLine
from core.sales.pricing import margin_percent

NOT_SOLD = (OrderStatus.DRAFT.value, OrderStatus.CANCELLED.value)
MAD_SCALE = 1.4826  # a median absolute deviation as a normal standard deviation


class MarginSettings(BaseModel):
    """The `margin:` section of the planning file."""

    lookback_days: int = Field(90, ge=7, le=730)
    history_days: int = Field(365, ge=30, le=1825)
    floors: dict[str, float] = Field(default_factory=lambda: {"A": 15.0, "B": 20.0, "C": 25.0})  # margin %, by tier
    default_floor: float = Field(20.0, ge=-100, lt=100)  # for a tier the floors do not name
    discount_gap_pts: float = Field(5.0, ge=0)
    discount_quantile: float = Field(0.9, ge=0.5, le=1)
    discount_mads: float = Field(3.0, ge=0)
    min_history: int = Field(10, ge=3)
    max_lines: int = Field(10, ge=1, le=50)
    min_impact: Decimal = Field(Decimal(25), ge=0)  # a customer's leaks below this much are not worth a case
    high_impact: Decimal = Field(Decimal(1000), ge=0)  # severity high at this much lost (entity currency)

    def floor(self, tier: str) -> Decimal:
        return Decimal(str(self.floors.get(tier.strip().upper(), self.default_floor)))


def settings() -> MarginSettings:
    return planning_section("margin", MarginSettings)


# --- pure figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoldLine:
    line_id: int
    order_id: int
    line_no: int
    customer_id: int
    item_id: int
    sku: str
    order_date: date
    quantity: int
    shipped: int
    unit_price: Decimal
    discount_pct: Decimal
    net_price: Decimal
    unit_cost: Decimal
    price_source: str


def floor_price(unit_cost: Decimal, floor_pct: Decimal) -> Decimal:
    """The net price that earns exactly the floor margin: cost / (1 - floor)."""
    return unit_cost / (1 - floor_pct / 100)


def line_margin_pct(net: Decimal, cost: Decimal) -> Decimal:
    return margin_percent(net - cost, net)


def usual_discount(history: Sequence[float], q: float, mads: float) -> float:
    """What a customer usually gets: the larger of its discounts' q-quantile and median + `mads` robust SDs."""
    median = quantile(history, 0.5)
    mad = quantile([abs(d - median) for d in history], 0.5)
    return max(quantile(history, q), median + mads * MAD_SCALE * mad)


def out_of_pattern(discount: float, history: Sequence[float], config: MarginSettings) -> float | None:
    """The customer's usual discount if `discount` is more than the gap above it; None if in pattern or too little
    history to say."""
    if len(history) < config.min_history:
        return None
    usual = usual_discount(history, config.discount_quantile, config.discount_mads)
    return usual if discount > usual + config.discount_gap_pts else None


@dataclass(frozen=True)
class Leak:
    """One line's (or one order's charges') leak: which rules it broke and the money lost."""

    order_id: int
    line_no: int | None  # None: the order's expedite charges
    sku: str
    rules: list[str]
    lost: Decimal
    text: str


def line_leak(line: SoldLine, floor: Decimal, contract: Decimal | None, usual: float | None) -> Leak | None:
    """A line's leak against the floor (on what shipped), the contract and the usual discount (on what was ordered);
    the money is the largest of the three so nothing is counted twice."""
    rules, texts, lost = [], [], Decimal(0)
    pct = line_margin_pct(line.net_price, line.unit_cost)
    if line.shipped > 0 and pct < floor:
        gap = (floor_price(line.unit_cost, floor) - line.net_price) * line.shipped
        rules.append("below_floor")
        texts.append(f"margin {pct}% below the {floor}% floor")
        lost = max(lost, gap)
    if contract is not None and line.net_price < contract:
        rules.append("below_contract")
        texts.append(f"net {round_money(line.net_price)} below contract {round_money(contract)}")
        lost = max(lost, (contract - line.net_price) * line.quantity)
    if usual is not None:
        rules.append("discount_out_of_pattern")
        texts.append(f"{line.discount_pct.normalize():f}% off where the customer usually gets up to {usual:.1f}%")
        extra = (line.discount_pct - Decimal(str(round(usual, 4)))) / 100
        lost = max(lost, line.unit_price * extra * line.quantity)
    if not rules:
        return None
    where = f"{SALES_ORDER.format(line.order_id)} line {line.line_no} ({line.quantity} {line.sku})"
    return Leak(line.order_id, line.line_no, line.sku, rules, round_money(lost), f"{where}: {'; '.join(texts)}")


def expedite_leak(
    order_id: int, lines: Sequence[SalesOrderLine], charges: Sequence[OrderCharge], floor: Decimal
) -> Leak | None:
    """Absorbed expedite charges that take an order below the floor; the money is what they cost below it."""
    with_charges = order_margin(lines, charges)
    if with_charges.absorbed <= 0 or with_charges.margin_pct >= floor:
        return None
    without = order_margin(lines, [])
    floor_margin = with_charges.revenue * floor / 100
    lost = min(with_charges.absorbed, floor_margin - with_charges.margin)
    text = (
        f"{SALES_ORDER.format(order_id)}: {format_money(with_charges.absorbed, lines[0].order.currency)} of absorbed "
        f"expedite takes its margin from {without.margin_pct}% to {with_charges.margin_pct}%, below the {floor}% floor"
    )
    return Leak(order_id, None, "", ["expedite"], round_money(max(lost, Decimal(0))), text)


# --- reading and grouping --------------------------------------------------------------------------


@dataclass
class CustomerLeak:
    customer_id: int
    code: str
    name: str
    tier: str
    entity_id: int
    currency: str
    floor: Decimal
    revenue: Decimal = Decimal(0)  # realised (shipped) in the window
    cost: Decimal = Decimal(0)
    leaks: list[Leak] = field(default_factory=list)

    @property
    def margin_pct(self) -> Decimal:
        return margin_percent(self.revenue - self.cost, self.revenue)

    @property
    def below_floor(self) -> bool:
        return self.revenue > 0 and self.margin_pct < self.floor

    @property
    def lost(self) -> Decimal:
        return round_money(sum((leak.lost for leak in self.leaks), Decimal(0)))


def _sold_lines(session: Session, since: date, as_of: date, entity_ids: Collection[int] | None) -> list[SoldLine]:
    query = (
        select(
            SalesOrderLine.id,
            SalesOrderLine.order_id,
            SalesOrderLine.line_no,
            SalesOrder.customer_id,
            SalesOrderLine.item_id,
            Item.sku,
            SalesOrder.order_date,
            SalesOrderLine.quantity,
            SalesOrderLine.qty_shipped,
            SalesOrderLine.unit_price,
            SalesOrderLine.discount_pct,
            SalesOrderLine.net_price,
            SalesOrderLine.unit_cost,
            SalesOrderLine.price_source,
        )
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .join(Item, Item.id == SalesOrderLine.item_id)
        .where(SalesOrder.order_date >= since, SalesOrder.order_date < as_of, SalesOrder.status.not_in(NOT_SOLD))
        .order_by(SalesOrderLine.id)
    )
    if entity_ids is not None:
        query = query.where(SalesOrder.entity_id.in_(sorted(entity_ids)))
    return [
        SoldLine(
            *row[:9],
            unit_price=Decimal(row.unit_price),
            discount_pct=Decimal(row.discount_pct),
            net_price=Decimal(row.net_price),
            unit_cost=Decimal(row.unit_cost),
            price_source=str(row.price_source),
        )
        for row in session.execute(query)
    ]


def _contracts(session: Session, lines: Sequence[SoldLine]) -> dict[int, Decimal]:
    """The contract price in force on each line's order date, by line id (lines with a contract only)."""
    customers = sorted({ln.customer_id for ln in lines})
    found: dict[tuple[int, int], list[tuple[date, date | None, Decimal]]] = {}
    for start in range(0, len(customers), 500):
        for customer_id, item_id, price, since, until in session.execute(
            select(
                ContractPrice.customer_id,
                ContractPrice.item_id,
                ContractPrice.unit_price,
                ContractPrice.valid_from,
                ContractPrice.valid_to,
            ).where(ContractPrice.customer_id.in_(customers[start : start + 500]))
        ):
            found.setdefault((customer_id, item_id), []).append((since, until, Decimal(price)))
    prices = {}
    for ln in lines:
        valid = [
            (since, p)
            for since, until, p in found.get((ln.customer_id, ln.item_id), [])
            if since <= ln.order_date and (until is None or until >= ln.order_date)
        ]
        if valid:
            prices[ln.line_id] = max(valid)[1]  # the latest contract in force, as pricing resolves it
    return prices


def _discount_history(session: Session, customers: Sequence[int], since: date, as_of: date) -> dict[int, list[float]]:
    history: dict[int, list[float]] = {}
    for start in range(0, len(customers), 500):
        for customer_id, discount in session.execute(
            select(SalesOrder.customer_id, SalesOrderLine.discount_pct)
            .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
            .where(
                SalesOrder.customer_id.in_(customers[start : start + 500]),
                SalesOrder.order_date >= since,
                SalesOrder.order_date < as_of,
                SalesOrder.status.not_in(NOT_SOLD),
            )
        ):
            history.setdefault(customer_id, []).append(float(discount))
    return history


def _expedites(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderCharge]]:
    charges: dict[int, list[OrderCharge]] = {}
    for start in range(0, len(order_ids), 500):
        for charge in session.scalars(
            select(OrderCharge).where(
                OrderCharge.order_id.in_(order_ids[start : start + 500]), OrderCharge.billed.is_(False)
            )
        ):
            charges.setdefault(charge.order_id, []).append(charge)
    return charges


def margin_leaks(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[CustomerLeak]:
    """Each customer with sales in the window and its leaks (customers with none included), by entity then code."""
    config = settings()
    since = as_of - timedelta(days=config.lookback_days)
    lines = _sold_lines(session, since, as_of, entity_ids)
    if not lines:
        return []
    customer_ids = sorted({ln.customer_id for ln in lines})
    customers: dict[int, CustomerLeak] = {}
    for start in range(0, len(customer_ids), 500):
        for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids[start : start + 500]))):
            customers[c.id] = CustomerLeak(
                c.id, c.code, c.name, c.tier, c.entity_id, c.entity.base_currency, config.floor(c.tier)
            )
    contracts = _contracts(session, lines)
    history = _discount_history(session, customer_ids, as_of - timedelta(days=config.history_days), as_of)
    for ln in lines:
        customer = customers[ln.customer_id]
        customer.revenue += ln.net_price * ln.shipped
        customer.cost += ln.unit_cost * ln.shipped
        usual = out_of_pattern(float(ln.discount_pct), history.get(ln.customer_id, []), config)
        leak = line_leak(ln, customer.floor, contracts.get(ln.line_id), usual)
        if leak is not None:
            customer.leaks.append(leak)
    _add_expedites(session, lines, customers)
    return sorted(customers.values(), key=lambda c: (c.entity_id, c.code))


def _add_expedites(session: Session, lines: Sequence[SoldLine], customers: dict[int, CustomerLeak]) -> None:
    charged = _expedites(session, sorted({ln.order_id for ln in lines}))
    if not charged:
        return
    orders = session.scalars(select(SalesOrder).where(SalesOrder.id.in_(sorted(charged)))).all()
    for order in orders:
        customer = customers[order.customer_id]
        leak = expedite_leak(order.id, order.lines, charged[order.id], customer.floor)
        if leak is not None:
            customer.leaks.append(leak)


def find_margin_leakage(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
    """A MARGIN_LEAKAGE finding per customer whose leaks lost at least `min_impact`, or whose realised margin is below
    its tier's floor."""
    config = settings()
    return [
        leak_finding(c, as_of, config)
        for c in margin_leaks(session, as_of=as_of, entity_ids=entity_ids)
        if (c.leaks and c.lost >= config.min_impact) or c.below_floor
    ]


def leak_finding(customer: CustomerLeak, as_of: date, config: MarginSettings) -> Finding:
    worst = sorted(customer.leaks, key=lambda lk: (-lk.lost, lk.order_id, lk.line_no or 0))
    counts: dict[str, int] = {}
    for leak in customer.leaks:
        for rule in leak.rules:
            counts[rule] = counts.get(rule, 0) + 1
    ccy, lost = customer.currency, customer.lost
    said = [f"{n} {rule.replace('_', ' ')}" for rule, n in sorted(counts.items())]
    if customer.below_floor:
        said.insert(
            0, f"realised margin {customer.margin_pct}% below the tier {customer.tier} floor of {customer.floor}%"
        )
    since = as_of - timedelta(days=config.lookback_days)
    shown = worst[: config.max_lines]
    rest = len(worst) - len(shown)
    return Finding(
        type=ExceptionType.MARGIN_LEAKAGE,
        entity_id=customer.entity_id,
        key=f"margin_leakage:customer:{customer.customer_id}",
        severity=Severity.HIGH if lost >= config.high_impact else Severity.MEDIUM if lost > 0 else Severity.LOW,
        title=f"{customer.code}: {format_money(lost, ccy)} of margin lost in {len(customer.leaks)} line(s)/order(s)",
        detail=(
            f"{customer.name} ({customer.code}, tier {customer.tier}) on orders of "
            f"{since}..{as_of - timedelta(days=1)}: "
            + "; ".join(said)
            + f". Lost against floor, contract or usual discount: {format_money(lost, ccy)}. Worst: "
            + "; ".join(leak.text for leak in shown[:3])
            + "."
        ),
        evidence={
            "customer": customer.code,
            "tier": customer.tier,
            "floor_pct": str(customer.floor),
            "realised_revenue": str(round_money(customer.revenue)),
            "realised_margin_pct": str(customer.margin_pct),
            "currency": ccy,
            "lost": str(lost),
            "counts": counts,
            "lines": [
                {
                    "sales_order": SALES_ORDER.format(leak.order_id),
                    "line_no": leak.line_no,
                    "sku": leak.sku,
                    "rules": leak.rules,
                    "lost": str(leak.lost),
                    "text": leak.text,
                }
                for leak in shown
            ],
            "more_lines": rest,
        },
        impact=lost,
    )
