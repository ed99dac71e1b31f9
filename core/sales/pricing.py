"""Price resolution: customer contract price, else the customer's price list, else list price."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import CurrencyMismatch, InvalidInput
from core.fx import convert, exchange_rate
from core.masterdata.models import (
    ContractPrice,
    Customer,
    Item,
    PriceList,
    PriceListItem,
)
from core.money import round_money, round_unit_price
from core.sales.models import PriceSource

GROUP_CURRENCY = "USD"
PERCENT = Decimal("0.1")  # discounts and margins are judged and shown to a tenth of a percent


@dataclass(frozen=True)
class ResolvedPrice:
    unit_price: Decimal
    source: PriceSource


def choose_price(contract: Decimal | None, price_list: Decimal | None, list_price: Decimal) -> ResolvedPrice:
    """The most specific price wins: contract > price list > list price."""
    if contract is not None:
        return ResolvedPrice(contract, PriceSource.CONTRACT)
    if price_list is not None:
        return ResolvedPrice(price_list, PriceSource.PRICE_LIST)
    return ResolvedPrice(list_price, PriceSource.LIST_PRICE)


def net_price(unit_price: Decimal, discount_pct: Decimal) -> Decimal:
    """Unit price after a percentage discount, to four places."""
    if not Decimal(0) <= discount_pct <= Decimal(100):
        raise InvalidInput(f"discount must be between 0 and 100 percent, got {discount_pct}")
    return round_unit_price(unit_price * (Decimal(100) - discount_pct) / Decimal(100))


def round_percent(value: Decimal) -> Decimal:
    """A percentage (a discount, a margin) to a tenth, half up like money."""
    return value.quantize(PERCENT, ROUND_HALF_UP)


def margin_percent(margin: Decimal, revenue: Decimal) -> Decimal:
    """Margin as a percent of revenue (0 without revenue): the one rule for a line, an order and an entity."""
    return round_percent(margin / revenue * 100) if revenue else Decimal(0)


def margin(net: Decimal, unit_cost: Decimal, quantity: int) -> tuple[Decimal, Decimal]:
    """(margin amount, margin percent of revenue) for a line."""
    amount = round_money((net - unit_cost) * quantity)
    return amount, margin_percent(amount, net * quantity)


def resolve_prices(
    session: Session,
    *,
    customer: Customer,
    items: Sequence[Item],
    currency: str,
    on: date,
) -> dict[int, ResolvedPrice]:
    """The price of each item for this customer on a day, in `currency` (two queries for any count)."""
    ids = [i.id for i in items]
    contracts = {
        row.item_id: Decimal(row.unit_price)
        for row in session.execute(
            select(ContractPrice.item_id, ContractPrice.unit_price)
            .where(
                ContractPrice.customer_id == customer.id,
                ContractPrice.item_id.in_(ids),
                ContractPrice.valid_from <= on,
                or_(ContractPrice.valid_to.is_(None), ContractPrice.valid_to >= on),
            )
            .order_by(ContractPrice.valid_from)
        )
    }
    listed: dict[int, Decimal] = {}
    if customer.price_list_id is not None:
        check_price_list_currency(session, customer, currency)
        listed = {
            row.item_id: Decimal(row.unit_price)
            for row in session.execute(
                select(PriceListItem.item_id, PriceListItem.unit_price).where(
                    PriceListItem.price_list_id == customer.price_list_id,
                    PriceListItem.item_id.in_(ids),
                )
            )
        }
    rate = exchange_rate(session, from_currency=GROUP_CURRENCY, to_currency=currency, on=on)
    return {
        i.id: choose_price(contracts.get(i.id), listed.get(i.id), convert(Decimal(i.list_price), rate)) for i in items
    }


def check_price_list_currency(session: Session, customer: Customer, currency: str) -> None:
    """A customer's price list must be in the currency the customer buys in."""
    price_list = session.get(PriceList, customer.price_list_id)
    if price_list is not None and price_list.currency != currency:
        raise CurrencyMismatch(
            f"customer {customer.code}'s price list {price_list.code} is in {price_list.currency}, "
            f"but {customer.code} buys in {currency}; assign a {currency} price list"
        )


def standard_costs(session: Session, *, items: Sequence[Item], currency: str, on: date) -> dict[int, Decimal]:
    """Each item's standard cost converted from the group currency into `currency`."""
    rate = exchange_rate(session, from_currency=GROUP_CURRENCY, to_currency=currency, on=on)
    return {i.id: convert(Decimal(i.standard_cost), rate) for i in items}
