"""Currency conversion: the one place that looks up an exchange rate and turns an amount into another currency.

A rate is `1 from_currency = rate to_currency`, valid from a day until the next rate of the pair; the rate on a
day is the latest one on or before it. Every converted figure can say which rate made it (`Rate.describe`).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from core.errors import MissingRate
from core.masterdata.models import CurrencyRate
from core.money import round_money, round_unit_price

Pair = tuple[str, str]


@dataclass(frozen=True)
class Rate:
    """One exchange rate as it was used: the pair, the rate and the day it is valid from (None: same currency)."""

    from_currency: str
    to_currency: str
    rate: Decimal
    valid_from: date | None

    @property
    def pair(self) -> str:
        return f"{self.from_currency}→{self.to_currency}"

    def describe(self) -> str:
        """ "GBP→USD 1.25 (valid from 2026-10-01)", or "USD, no conversion"."""
        if self.valid_from is None:
            return f"{self.from_currency}, no conversion"
        return f"{self.pair} {self.rate.normalize():f} (valid from {self.valid_from})"

    def apply(self, amount: Decimal) -> Decimal:
        """An amount in `from_currency` as money in `to_currency`, to the cent."""
        return round_money(amount * self.rate)


def same_currency(currency: str) -> Rate:
    return Rate(currency, currency, Decimal(1), None)


def rates_on(session: Session, pairs: Iterable[Pair], on: date) -> dict[Pair, Rate]:
    """The rate of each pair on a day (the latest on or before it), in one query; MissingRate names a pair without."""
    wanted = sorted({(a.upper(), b.upper()) for a, b in pairs})
    found = {(a, b): same_currency(a) for a, b in wanted if a == b}
    other = [(a, b) for a, b in wanted if a != b]
    if other:
        newer = CurrencyRate.__table__.alias("newer")
        rows = session.execute(
            select(
                CurrencyRate.from_currency, CurrencyRate.to_currency, CurrencyRate.rate, CurrencyRate.valid_from
            ).where(
                or_(*(and_(CurrencyRate.from_currency == a, CurrencyRate.to_currency == b) for a, b in other)),
                CurrencyRate.valid_from <= on,
                ~exists().where(
                    newer.c.from_currency == CurrencyRate.from_currency,
                    newer.c.to_currency == CurrencyRate.to_currency,
                    newer.c.valid_from > CurrencyRate.valid_from,
                    newer.c.valid_from <= on,
                ),
            )
        ).all()
        found.update({(a, b): Rate(a, b, Decimal(rate), valid) for a, b, rate, valid in rows})
    for a, b in wanted:
        if (a, b) not in found:
            raise MissingRate(a, b, on)
    return found


def rates_over(session: Session, pairs: Iterable[Pair], days: Iterable[date]) -> dict[tuple[Pair, date], Rate]:
    """The rate of each pair on each of the days (the latest on or before it), in one query for any number of days;
    MissingRate names a pair and day without one."""
    wanted = sorted({(a.upper(), b.upper()) for a, b in pairs})
    on = sorted(set(days))
    if not on:
        return {}
    history: dict[Pair, list[Rate]] = {(a, b): [] for a, b in wanted if a != b}
    if history:
        rows = session.execute(
            select(CurrencyRate.from_currency, CurrencyRate.to_currency, CurrencyRate.rate, CurrencyRate.valid_from)
            .where(
                or_(*(and_(CurrencyRate.from_currency == a, CurrencyRate.to_currency == b) for a, b in history)),
                CurrencyRate.valid_from <= on[-1],
            )
            .order_by(CurrencyRate.valid_from)
        ).all()
        for a, b, rate, valid in rows:
            history[(a, b)].append(Rate(a, b, Decimal(rate), valid))
    found: dict[tuple[Pair, date], Rate] = {}
    for pair in wanted:
        for day in on:
            if pair[0] == pair[1]:
                found[(pair, day)] = same_currency(pair[0])
                continue
            known = [r for r in history[pair] if r.valid_from is not None and r.valid_from <= day]
            if not known:
                raise MissingRate(pair[0], pair[1], day)
            found[(pair, day)] = known[-1]
    return found


def rate_on(session: Session, *, from_currency: str, to_currency: str, on: date) -> Rate:
    """The rate from one currency into another on a day."""
    return rates_on(session, [(from_currency, to_currency)], on)[(from_currency.upper(), to_currency.upper())]


def exchange_rate(session: Session, *, from_currency: str, to_currency: str, on: date) -> Decimal:
    """Units of `to_currency` for one `from_currency` on a day (the latest rate on or before it)."""
    return rate_on(session, from_currency=from_currency, to_currency=to_currency, on=on).rate


def convert(amount: Decimal, rate: Decimal) -> Decimal:
    """A unit price or cost at `rate`, rounded to four places (unit prices keep sub-cent precision)."""
    return round_unit_price(amount * rate)
