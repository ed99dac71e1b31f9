"""Stock reconciliation: does every balance row still equal what the ledger and the claims add up to?

The balance is what ATP reads; the ledger, the reservations and the open supply are what happened.
They are changed in one transaction, so they always agree, and database CHECKs refuse a negative or
over-reserved balance. This re-derives each balance from the records to prove it, after tests, after
hardening runs (a race or a killed process), and for an operator who wants to know.
"""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.stock.models import Bucket, IncomingSupply, LedgerEntry, Reservation, StockBalance


def _sums(session: Session, query: Any) -> dict[Any, int]:
    return {tuple(row[:-1]): int(row[-1]) for row in session.execute(query)}


def stock_disagreements(session: Session) -> list[str]:
    """Every balance column that differs from what the ledger, the reservations or the open supply add up to.

    Also the core's own invariant (the CHECK on stock_balances): nothing negative, and never more
    reserved than is on hand, so no unit is promised twice.
    """
    ledger = _sums(
        session,
        select(
            LedgerEntry.item_id, LedgerEntry.warehouse_id, LedgerEntry.bucket, func.sum(LedgerEntry.quantity)
        ).group_by(LedgerEntry.item_id, LedgerEntry.warehouse_id, LedgerEntry.bucket),
    )
    reserved = _sums(
        session,
        select(Reservation.item_id, Reservation.warehouse_id, func.sum(Reservation.quantity)).group_by(
            Reservation.item_id, Reservation.warehouse_id
        ),
    )
    backordered = _sums(
        session,
        select(Reservation.item_id, Reservation.warehouse_id, func.sum(Reservation.backordered)).group_by(
            Reservation.item_id, Reservation.warehouse_id
        ),
    )
    incoming = _sums(
        session,
        select(IncomingSupply.item_id, IncomingSupply.warehouse_id, func.sum(IncomingSupply.quantity)).group_by(
            IncomingSupply.item_id, IncomingSupply.warehouse_id
        ),
    )
    problems = []
    for balance in session.scalars(select(StockBalance).order_by(StockBalance.item_id, StockBalance.warehouse_id)):
        key = (balance.item_id, balance.warehouse_id)
        expected = {
            "on_hand": ledger.get((*key, Bucket.ON_HAND.value), 0),
            "in_transit": ledger.get((*key, Bucket.IN_TRANSIT.value), 0),
            "reserved": reserved.get(key, 0),
            "backordered": backordered.get(key, 0),
            "incoming": incoming.get(key, 0),
        }
        problems += [
            f"item {key[0]} at warehouse {key[1]}: balance {column} {getattr(balance, column)} != {value} summed"
            for column, value in expected.items()
            if getattr(balance, column) != value
        ]
        if min(balance.on_hand, balance.reserved, balance.backordered, balance.incoming, balance.in_transit) < 0:
            problems.append(f"item {key[0]} at warehouse {key[1]}: a negative balance")
        if balance.reserved > balance.on_hand:
            where = f"item {key[0]} at warehouse {key[1]}"
            problems.append(f"{where}: oversold, {balance.reserved} reserved of {balance.on_hand} on hand")
    return problems
