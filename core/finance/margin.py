"""Margin for a period by entity, customer or item category, in each entity's own currency.

Revenue is what was invoiced in the period less what credit notes gave back in it (returns). Cost is the
cost of the goods invoiced (standard cost at order time), plus freight charged on orders and absorbed (not
billed), less the cost of returned goods put back on a shelf (they are stock again; scrapped goods stay a
cost). Billed freight is on the invoices as revenue and cost alike. Each figure is a grouped query: a fixed
handful of statements whatever the data size.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from core.actor import Actor
from core.errors import InvalidInput
from core.finance.models import CreditNote, Invoice
from core.masterdata.models import Customer, Item, LegalEntity
from core.money import round_money
from core.returns.models import Disposition, ReturnLine
from core.sales.models import OrderCharge, SalesOrder, SalesOrderLine, ShipmentLine
from core.sales.pricing import margin_percent

FREIGHT = "freight"  # the category view's row for freight charges, which belong to no item
UNALLOCATED = "credit notes without returned lines"
ZERO = Decimal("0.00")


class MarginBy(StrEnum):
    ENTITY = "entity"
    CUSTOMER = "customer"
    CATEGORY = "category"


@dataclass(frozen=True)
class MarginLine:
    """One entity's (or one customer's, or one category's within an entity) figures, in the entity's currency."""

    entity: str
    currency: str
    key: str  # the entity code, the customer code or the category
    invoiced: Decimal
    credited: Decimal
    cost: Decimal

    @property
    def revenue(self) -> Decimal:
        """Invoiced less credited."""
        return self.invoiced - self.credited

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_pct(self) -> Decimal:
        return margin_percent(self.margin, self.revenue)


def parse_margin_by(value: MarginBy | str) -> MarginBy:
    try:
        return MarginBy(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"margin by '{value}' is not known; use entity, customer or category") from None


def margins(
    session: Session, actor: Actor, *, by: MarginBy | str = MarginBy.ENTITY, since: date, until: date
) -> list[MarginLine]:
    """Revenue (net of credit notes), cost and margin in the period per entity in scope, or per customer or
    category within each, largest revenue first within an entity."""
    by = parse_margin_by(by)
    if since > until:
        raise InvalidInput(f"the period starts ({since}) after it ends ({until})")
    parts = [
        _labelled(column, statement.where(_in_scope(actor, statement)))
        for column, statement in _statements(by, since, until)
    ]
    figures = union_all(*parts).subquery()
    rows = session.execute(  # one statement, whatever the dimension and the number of entities
        select(figures.c.figure, LegalEntity.code, LegalEntity.base_currency, figures.c.key, figures.c.amount).join(
            LegalEntity, LegalEntity.id == figures.c.entity_id
        )
    ).all()
    sums: dict[tuple[str, str, str], list[Decimal]] = {}
    for column, code, currency, key, amount in rows:
        sums.setdefault((code, currency, str(key) or code), [ZERO, ZERO, ZERO])[column] += round_money(amount)
    lines = [MarginLine(code, ccy, key, *values) for (code, ccy, key), values in sums.items() if any(values)]
    return sorted(lines, key=lambda m: (m.entity, -m.revenue, m.key))


def _labelled(column: int, statement: Select[Any]) -> Select[Any]:
    """(figure, entity_id, key, amount) from a grouped (entity id, key, amount) statement, for the union."""
    part = statement.subquery()
    entity, key, amount = part.c[0], part.c[1], part.c[2]
    return select(
        literal(column).label("figure"),
        entity.label("entity_id"),
        cast(key, String).label("key"),
        cast(amount, Numeric(18, 4)).label("amount"),
    )


def _in_scope(actor: Actor, statement: Select[Any]) -> ColumnElement[bool]:
    entity = statement.selected_columns[0]
    return entity.in_(sorted(actor.entity_ids))


INVOICED, CREDITED, COST = 0, 1, 2
# Opening invoices (taken over from the previous system, no shipment here) were that system's revenue, at a cost
# not known here: they are receivables, not this period's sales.
RAISED_HERE = Invoice.shipment_id.is_not(None)


def _statements(by: MarginBy, since: date, until: date) -> list[tuple[int, Select[Any]]]:
    """(which figure, a grouped statement of (entity id, key, amount)) for the dimension."""
    if by is MarginBy.CATEGORY:
        return _by_category(since, until)
    customer = by is MarginBy.CUSTOMER
    return [
        (
            INVOICED,
            _grouped(Invoice.entity_id, Invoice.customer_id, customer, func.sum(Invoice.amount)).where(
                Invoice.issued_on.between(since, until), RAISED_HERE
            ),
        ),
        (
            COST,
            _grouped(Invoice.entity_id, Invoice.customer_id, customer, func.sum(Invoice.cost)).where(
                Invoice.issued_on.between(since, until), RAISED_HERE
            ),
        ),
        (
            CREDITED,
            _grouped(CreditNote.entity_id, CreditNote.customer_id, customer, func.sum(CreditNote.amount)).where(
                CreditNote.issued_on.between(since, until)
            ),
        ),
        (COST, _absorbed(since, until, customer)),
        (COST, _restocked(since, until, customer)),
    ]


def _grouped(
    entity: Any,
    customer_id: Any,
    by_customer: bool,
    amount: ColumnElement[Any],
    source: Callable[[Select[Any]], Select[Any]] | None = None,
) -> Select[Any]:
    """(entity, key, amount) from `source`'s joins, grouped by entity, or by entity and customer code."""
    statement = select(entity, Customer.code if by_customer else literal(""), amount)
    if source is not None:
        statement = source(statement)
    if not by_customer:
        return statement.group_by(entity)
    return statement.join(Customer, Customer.id == customer_id).group_by(entity, Customer.code)


def _absorbed(since: date, until: date, by_customer: bool) -> Select[Any]:
    """Freight charged on orders in the period and not billed: a cost of the entity (and of the order's customer)."""

    def orders(statement: Select[Any]) -> Select[Any]:
        return statement.select_from(OrderCharge).join(SalesOrder, SalesOrder.id == OrderCharge.order_id)

    statement = _grouped(
        OrderCharge.entity_id, SalesOrder.customer_id, by_customer, func.sum(OrderCharge.amount), orders
    )
    return statement.where(OrderCharge.billed.is_(False), OrderCharge.charged_on.between(since, until))


def _returned_lines(statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """Return lines credited by a credit note (its return, its invoice), joined to their order line."""
    return (
        statement.select_from(ReturnLine)
        .join(
            CreditNote,
            and_(CreditNote.source_id == ReturnLine.rma_id, CreditNote.invoice_id == ReturnLine.invoice_id),
        )
        .join(SalesOrderLine, SalesOrderLine.id == ReturnLine.order_line_id)
    )


def _restocked(since: date, until: date, by_customer: bool) -> Select[Any]:
    """The cost of returned units put back on a shelf, credited in the period: it is no longer a cost of sales."""
    back = func.sum(-(ReturnLine.quantity * ReturnLine.unit_cost))
    statement = _grouped(CreditNote.entity_id, CreditNote.customer_id, by_customer, back, _returned_lines)
    return statement.where(
        ReturnLine.disposition == Disposition.RESTOCK.value, CreditNote.issued_on.between(since, until)
    )


def _by_category(since: date, until: date) -> list[tuple[int, Select[Any]]]:
    shipped = (
        select(Invoice.entity_id, Item.category)
        .select_from(ShipmentLine)
        .join(Invoice, Invoice.shipment_id == ShipmentLine.shipment_id)
        .join(SalesOrderLine, SalesOrderLine.id == ShipmentLine.order_line_id)
        .join(Item, Item.id == SalesOrderLine.item_id)
        .where(Invoice.issued_on.between(since, until))
        .group_by(Invoice.entity_id, Item.category)
    )
    returned = (
        _returned_lines(select(CreditNote.entity_id, Item.category))
        .join(Item, Item.id == SalesOrderLine.item_id)
        .where(CreditNote.issued_on.between(since, until))
        .group_by(CreditNote.entity_id, Item.category)
    )
    restocked = case((ReturnLine.disposition == Disposition.RESTOCK.value, ReturnLine.quantity * ReturnLine.unit_cost))
    billed = (
        select(OrderCharge.entity_id, literal(FREIGHT), func.sum(OrderCharge.amount))
        .join(Invoice, Invoice.id == OrderCharge.invoice_id)
        .where(OrderCharge.billed.is_(True), Invoice.issued_on.between(since, until))
        .group_by(OrderCharge.entity_id)
    )
    absorbed = (
        select(OrderCharge.entity_id, literal(FREIGHT), func.sum(OrderCharge.amount))
        .where(OrderCharge.billed.is_(False), OrderCharge.charged_on.between(since, until))
        .group_by(OrderCharge.entity_id)
    )
    unallocated = (  # a credit note with no returned lines behind it belongs to no category
        select(CreditNote.entity_id, literal(UNALLOCATED), func.sum(CreditNote.amount))
        .where(
            CreditNote.issued_on.between(since, until),
            ~exists().where(ReturnLine.rma_id == CreditNote.source_id, ReturnLine.invoice_id == CreditNote.invoice_id),
        )
        .group_by(CreditNote.entity_id)
    )
    return [
        (CREDITED, unallocated),
        (INVOICED, shipped.add_columns(func.sum(ShipmentLine.quantity * SalesOrderLine.net_price))),
        (COST, shipped.add_columns(func.sum(ShipmentLine.quantity * SalesOrderLine.unit_cost))),
        (CREDITED, returned.add_columns(func.sum(ReturnLine.quantity * ReturnLine.net_price))),
        (COST, returned.add_columns(-func.coalesce(func.sum(restocked), 0))),
        (INVOICED, billed),
        (COST, billed),
        (COST, absorbed),
    ]
