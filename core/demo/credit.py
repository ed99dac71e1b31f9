"""Credit limits set last, against each customer's real exposure: ACME and a few others near their limits."""

import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.bulk import table
from core.db import Database
from core.demo.company import Company, CustomerRef
from core.demo.directory import ACME_CODE, USD_RATES
from core.demo.masterdata import TIER_CREDIT_USD, nice
from core.finance.service import open_order_value, open_receivables
from core.masterdata.models import Customer

ACME_UTILISATION = Decimal("0.94")
# ACME's limit leaves less room than the README's order of 300 V-200 takes (about USD 5,000), so that order
# needs finance on any generation day; 94% of a large exposure would leave more (core/demo/walkthrough.py).
ACME_MAX_HEADROOM = Decimal(4000)
HEADROOM_STEP = Decimal(500)
NEAR_LIMIT = (0.90, 0.97)  # utilisation of the other customers close to their limits
NEAR_LIMIT_PER_CUSTOMERS = 30  # one such customer per this many, at least three
HELD_OVER_LIMIT = (1.02, 1.20)
COMFORTABLE = (0.20, 0.70)
BAND = (Decimal("0.90"), Decimal("0.98"))
ROUNDING_STEPS = (Decimal(1000), Decimal(500), Decimal(100), Decimal(10), Decimal(1))


def exposure(session: Session, customer_id: int) -> Decimal:
    """Open receivables plus confirmed, not yet invoiced orders, as the core counts them."""
    return open_receivables(session, customer_id) + open_order_value(session, customer_id)


def limit_for(amount: Decimal, utilisation: Decimal) -> Decimal:
    """A limit at which `amount` uses about `utilisation` of it: the roundest such limit still inside the band."""
    exact = (amount / utilisation).to_integral_value(ROUND_CEILING)
    for step in ROUNDING_STEPS:
        limit = (exact / step).to_integral_value() * step
        if limit > 0 and BAND[0] <= amount / limit <= BAND[1]:
            return limit
    return exact


def _within_headroom(amount: Decimal, limit: Decimal) -> Decimal:
    """The limit, lowered to a round figure at most ACME_MAX_HEADROOM above the exposure if it leaves more."""
    if limit - amount <= ACME_MAX_HEADROOM:
        return limit
    return ((amount + ACME_MAX_HEADROOM) / HEADROOM_STEP).to_integral_value(ROUND_FLOOR) * HEADROOM_STEP


class CreditDesk:
    """Chooses every customer's limit from its exposure."""

    def __init__(self, company: Company, exposures: dict[int, Decimal], rng: random.Random) -> None:
        self.company = company
        self.exposures = exposures
        self.rng = rng
        self.near = self._near_limit()

    def _near_limit(self) -> set[int]:
        candidates = sorted(
            (c for c in self.company.customers if not c.on_hold and c.code != ACME_CODE and self.exposures[c.id] > 0),
            key=lambda c: (-self.exposures[c.id], c.id),
        )
        count = max(3, len(self.company.customers) // NEAR_LIMIT_PER_CUSTOMERS)
        pool = candidates[: count * 3]
        return {c.id for c in self.rng.sample(pool, min(count, len(pool)))}

    def _floor(self, customer: CustomerRef) -> Decimal:
        currency = self.company.entity_by_id[customer.entity_id].currency
        return nice(TIER_CREDIT_USD[customer.tier] * USD_RATES[currency] / 4)

    def limit(self, customer: CustomerRef) -> Decimal:
        amount = self.exposures[customer.id]
        if customer.code == ACME_CODE:
            return _within_headroom(amount, limit_for(amount, ACME_UTILISATION))
        if customer.id in self.near:
            return limit_for(amount, Decimal(str(round(self.rng.uniform(*NEAR_LIMIT), 3))))
        if customer.on_hold and amount > 0:
            return nice(float(amount) / self.rng.uniform(*HELD_OVER_LIMIT))
        return max(self._floor(customer), nice(float(amount) / self.rng.uniform(*COMFORTABLE)))


def set_credit_limits(db: Database, company: Company, rng: random.Random) -> None:
    """Every customer's limit, from the exposure the core reports for it now."""
    exposures = db.read(lambda s: {c.id: exposure(s, c.id) for c in company.customers})
    desk = CreditDesk(company, exposures, rng)
    customers = table(Customer)

    def command(session: Session) -> None:
        for customer in company.customers:
            session.execute(
                update(customers).where(customers.c.id == customer.id).values(credit_limit=desk.limit(customer))
            )

    db.run(command)
