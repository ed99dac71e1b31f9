"""Money: one quantum and one rounding rule, so that an amount shown, judged and posted is the same figure.

Amounts are kept to the cent and unit prices and costs to four places (a unit price may carry
sub-cent precision that only a line's quantity turns into cents). Both round half up: Decimal's
default (half even) must never decide a posted or judged figure, so every rounding goes through here.
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
UNIT_PRICE = Decimal("0.0001")
ROUNDING = ROUND_HALF_UP


def round_money(value: Decimal | float | int | None) -> Decimal:
    """An amount to the cent, half up; None (an empty SQL sum) is zero."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value or 0))
    return amount.quantize(CENT, ROUNDING)


def round_unit_price(value: Decimal) -> Decimal:
    """A unit price or unit cost to four places, half up."""
    return value.quantize(UNIT_PRICE, ROUNDING)


def format_money(amount: Decimal, currency: str) -> str:
    """The amount as people read it, "USD 5,000.00": rounded by the rule above, not by string formatting."""
    return f"{currency} {round_money(amount):,.2f}"
