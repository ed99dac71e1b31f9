"""Scenario facts other work relies on: items short in one warehouse and plentiful in another."""

import random
from dataclasses import dataclass

from core.demo.catalog import ANCHORS
from core.demo.company import Company

# (short warehouse, plentiful warehouse) pairs within one entity, so a transfer can fix the shortage.
SHORTAGE_ROUTES = (("ATL", "DAL"), ("RNO", "DAL"), ("MAN", "BHM"))
GENERATED_SHORTAGES = 5
DRAIN_DAYS = 45  # a short item's warehouse gets no routine replenishment in the history's last weeks


@dataclass(frozen=True)
class Shortage:
    sku: str
    short: str  # warehouse code
    short_atp: int  # available to promise there once the open orders are in
    plentiful: str
    plentiful_atp: int  # at least this much free stock there
    backordered: int = 0  # units of an open order waiting at the short warehouse
    po_days: int | None = None  # an open purchase order into the short warehouse, due in this many days
    po_quantity: int = 0


V200 = Shortage("V-200", "ATL", 12, "DAL", 340, po_days=10, po_quantity=200)


def pick_shortages(company: Company, rng: random.Random) -> list[Shortage]:
    """V-200 plus a few popular items, each short in one warehouse and plentiful in a sibling."""
    pinned = {a.sku for a in ANCHORS}
    candidates = [i for i in company.items if i.abc == "A" and i.weight > 0 and i.sku not in pinned]
    picks = rng.sample(candidates, min(GENERATED_SHORTAGES, len(candidates)))
    shortages = [V200]
    for item in sorted(picks, key=lambda i: i.id):
        short, plentiful = rng.choice(SHORTAGE_ROUTES)
        short_atp = rng.choice((0, 3, 6))
        due = rng.randint(5, 20) if rng.random() < 0.6 else None
        shortages.append(
            Shortage(
                sku=item.sku,
                short=short,
                short_atp=short_atp,
                plentiful=plentiful,
                plentiful_atp=item.typical_qty * 30,
                backordered=item.typical_qty if short_atp == 0 else 0,
                po_days=due,
                po_quantity=item.typical_qty * 20 if due else 0,
            )
        )
    return shortages
