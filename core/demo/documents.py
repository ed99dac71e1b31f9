"""History documents from the stock simulation: shipments with invoices, payments, purchase orders,
transfers, the stock ledger in time order, and balances summed from that ledger."""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.actor import Role
from core.bulk import Row, insert_rows, table
from core.demo.company import Company
from core.demo.demand import OrderBook
from core.demo.directory import user_for
from core.demo.stock import (
    K_OPENING,
    K_RECEIPT,
    K_SHIPMENT,
    K_TRANSFER_IN,
    K_TRANSFER_OUT,
    K_TRANSIT_IN,
    K_TRANSIT_OUT,
    StockHistory,
    TransferPlan,
)
from core.finance.models import IntercompanyPosting, Invoice
from core.masterdata.models import Customer
from core.masterdata.service import convert
from core.models import Base
from core.numbering import INVOICE
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.receivables.models import CustomerPayment, PaymentApplication, PaymentStatus
from core.sales.models import Shipment, ShipmentLine
from core.stock.models import Bucket, LedgerEntry, Movement, StockBalance
from core.transfers.models import TRANSIT_DAYS, Transfer, TransferKind, TransferLine, TransferStatus
from core.transfers.service import intercompany_postings, transfer_unit_price

MOVES = {  # ledger kind -> (bucket, movement, ref_type)
    K_OPENING: (Bucket.ON_HAND, Movement.ADJUSTMENT, "adjustment"),
    K_RECEIPT: (Bucket.ON_HAND, Movement.RECEIPT, "purchase_order"),
    K_SHIPMENT: (Bucket.ON_HAND, Movement.SHIPMENT, "shipment"),
    K_TRANSFER_OUT: (Bucket.ON_HAND, Movement.TRANSFER_OUT, "transfer"),
    K_TRANSIT_IN: (Bucket.IN_TRANSIT, Movement.TRANSFER_IN_TRANSIT, "transfer"),
    K_TRANSIT_OUT: (Bucket.IN_TRANSIT, Movement.TRANSFER_IN_TRANSIT, "transfer"),
    K_TRANSFER_IN: (Bucket.ON_HAND, Movement.TRANSFER_IN, "transfer"),
}
PHASE_SECONDS = (6 * 3600, 7 * 3600, 9 * 3600, 11 * 3600, 13 * 3600)  # when each phase of a day starts
OPENING_NOTE = "opening balance taken over from the previous system"
PAYMENT_DELAY = {"A": (-3.0, 5.0), "B": (0.0, 8.0), "C": (6.0, 12.0)}  # days after due: mean, spread
DISPUTED_SHARE = 0.01  # invoices left unpaid by customers in good standing
HOLD_OVERDUE_DAYS = 30
HOLD_LOOKBACK_DAYS = 180


@dataclass
class Invoiced:
    """One history invoice, as payments need it."""

    id: int
    day: int
    customer_id: int
    cents: int


class HistoryWriter:
    """Writes the documents of a finished stock simulation."""

    def __init__(
        self,
        session: Session,
        company: Company,
        book: OrderBook,
        history: StockHistory,
        rng: random.Random,
        written: Callable[[int], None],
    ) -> None:
        self.session = session
        self.company = company
        self.horizon = company.horizon
        self.book = book
        self.history = history
        self.rng = rng
        self.written = written
        self.overdue: dict[int, list[tuple[int, int]]] = {}  # customer on hold -> (invoice id, due day)
        self.shipment_ids: dict[tuple[int, int], int] = {}  # (day, order) -> shipment id
        self.invoices: list[Invoiced] = []
        self.po_ids: list[int] = []  # by purchase group
        self.transfer_ids: dict[int, int] = {}  # by plan
        self.transfer_lines_made = 0
        self.keepers = {e.id: company.users[user_for(Role.WAREHOUSE, e.code)] for e in company.entities}

    def _insert(self, model: type[Base], rows: Iterator[Row] | list[Row]) -> int:
        return insert_rows(self.session, model, rows, self.written)

    def _customer_of(self, order_id: int) -> int:
        return self.book.order_customer[order_id]

    # -- shipments and invoices ---------------------------------------------------------

    def shipments(self) -> None:
        """One shipment per order and day, its lines merged per order line, and its invoice."""
        moves = sorted(self.history.shipments)
        lines: dict[int, dict[int, int]] = {}
        for day, order_id, line_id, quantity in moves:
            shipment_id = self.shipment_ids.setdefault((day, order_id), len(self.shipment_ids) + 1)
            merged = lines.setdefault(shipment_id, {})
            merged[line_id] = merged.get(line_id, 0) + quantity
        self._insert(Shipment, self._shipment_rows())
        self._insert(ShipmentLine, self._shipment_line_rows(lines))
        self._insert(Invoice, self._invoice_rows(lines))

    def _shipment_rows(self) -> Iterator[Row]:
        for (day, order_id), shipment_id in self.shipment_ids.items():
            entity_id = self.company.customer_by_id[self._customer_of(order_id)].entity_id
            yield {
                "id": shipment_id,
                "order_id": order_id,
                "shipped_on": self.horizon.date_of(day),
                "created_by": self.keepers[entity_id],
            }

    @staticmethod
    def _shipment_line_rows(lines: dict[int, dict[int, int]]) -> Iterator[Row]:
        next_id = 1
        for shipment_id, merged in lines.items():
            for line_id, quantity in sorted(merged.items()):
                yield {"id": next_id, "shipment_id": shipment_id, "order_line_id": line_id, "quantity": quantity}
                next_id += 1

    def _invoice_rows(self, lines: dict[int, dict[int, int]]) -> Iterator[Row]:
        for (day, order_id), shipment_id in self.shipment_ids.items():
            customer = self.company.customer_by_id[self._customer_of(order_id)]
            merged = lines[shipment_id].items()
            amount = _cents(sum(self.book.line_net_e4[line] * qty for line, qty in merged))
            cost = _cents(sum(self.book.line_cost_e4[line] * qty for line, qty in merged))
            self.invoices.append(Invoiced(shipment_id, day, customer.id, amount))
            yield {
                "id": shipment_id,
                "entity_id": customer.entity_id,
                "customer_id": customer.id,
                "order_id": order_id,
                "shipment_id": shipment_id,
                "currency": self.company.entity_by_id[customer.entity_id].currency,
                "amount": Decimal(amount).scaleb(-2),
                "cost": Decimal(cost).scaleb(-2),
                "issued_on": self.horizon.date_of(day),
                "due_on": self.horizon.date_of(day + customer.terms_days),
            }

    # -- payments -----------------------------------------------------------------------

    def payments(self) -> None:
        """Most invoices paid around their due date; recent ones open; held customers' and disputed ones overdue."""
        payments = list(self._payment_rows())
        self._insert(CustomerPayment, (p for p, _ in payments))
        self._insert(PaymentApplication, (a for _, a in payments))
        self._write_hold_reasons()

    def _paid_on(self, invoice: Invoiced) -> int | None:
        customer = self.company.customer_by_id[invoice.customer_id]
        due = invoice.day + customer.terms_days
        last = self.horizon.last
        if customer.on_hold and due < last - HOLD_OVERDUE_DAYS and invoice.day > last - HOLD_LOOKBACK_DAYS:
            self.overdue.setdefault(customer.id, []).append((invoice.id, due))
            return None
        if self.rng.random() < DISPUTED_SHARE:
            return None
        mean, spread = PAYMENT_DELAY[customer.tier]
        day = self.horizon.next_weekday(max(invoice.day + 1, due + round(self.rng.gauss(mean, spread))))
        return day if day <= last else None

    def _payment_rows(self) -> Iterator[tuple[Row, Row]]:
        """One payment per paid invoice, wholly applied to it on the day it arrived."""
        next_id = 1
        finance = {e.id: self.company.users[user_for(Role.FINANCE, e.code)] for e in self.company.entities}
        for invoice in self.invoices:
            day = self._paid_on(invoice)
            if day is None:
                continue
            entity_id = self.company.customer_by_id[invoice.customer_id].entity_id
            received = self.horizon.date_of(day)
            amount = Decimal(invoice.cents).scaleb(-2)
            yield (
                {
                    "id": next_id,
                    "entity_id": entity_id,
                    "customer_id": invoice.customer_id,
                    "currency": self.company.entity_by_id[entity_id].currency,
                    "amount": amount,
                    "received_on": received,
                    "bank_reference": f"BNK{received:%Y%m%d}-{next_id:06d}",
                    "status": PaymentStatus.POSTED.value,
                    "created_by": finance[entity_id],
                    "created_at": datetime.combine(received, time(10)),
                    "reversed_on": None,
                    "reversed_by": None,
                    "reversal_reason": None,
                },
                {
                    "id": next_id,
                    "payment_id": next_id,
                    "invoice_id": invoice.id,
                    "customer_id": invoice.customer_id,
                    "amount": amount,
                    "applied_on": received,
                    "created_by": finance[entity_id],
                    "reversed_on": None,
                },
            )
            next_id += 1

    def _write_hold_reasons(self) -> None:
        for customer in self.company.customers:
            if customer.on_hold:
                self.session.execute(
                    update(table(Customer))
                    .where(table(Customer).c.id == customer.id)
                    .values(credit_hold_reason=self._hold_reason(customer.id))
                )

    def _hold_reason(self, customer_id: int) -> str:
        overdue = self.overdue.get(customer_id, [])
        if not overdue:
            return "payment dispute referred to collections; no new orders until it is settled"
        invoice_id, due = min(overdue, key=lambda o: o[1])
        return (
            f"{len(overdue)} invoice(s) more than {HOLD_OVERDUE_DAYS} days overdue, "
            f"oldest {INVOICE.format(invoice_id)} due {self.horizon.date_of(due).isoformat()}"
        )

    # -- purchase orders ----------------------------------------------------------------

    def purchase_orders(self) -> None:
        """One received purchase order per purchase group, numbered in order-date order."""
        groups = self.history.groups
        order = sorted(
            range(len(groups)),
            key=lambda g: (groups[g].order_day, groups[g].supplier_id, groups[g].warehouse_id, groups[g].arrival_day),
        )
        self.po_ids = [0] * len(groups)
        for po_id, group in enumerate(order, start=1):
            self.po_ids[group] = po_id
        self._insert(PurchaseOrder, self._po_rows(order))
        self._insert(PurchaseOrderLine, self._po_line_rows(order))

    def _po_rows(self, order: list[int]) -> Iterator[Row]:
        buyers = {e.id: self.company.users[user_for(Role.BUYER, e.code)] for e in self.company.entities}
        for group_index in order:
            group = self.history.groups[group_index]
            supplier = self.company.supplier_by_id[group.supplier_id]
            yield {
                "id": self.po_ids[group_index],
                "entity_id": supplier.entity_id,
                "supplier_id": supplier.id,
                "warehouse_id": group.warehouse_id,
                "currency": supplier.spec.currency,
                "status": PurchaseOrderStatus.RECEIVED.value,
                "order_date": self.horizon.date_of(group.order_day),
                "expected_date": self.horizon.date_of(group.expected_day),
                "created_by": buyers[supplier.entity_id],
                "created_at": self.horizon.at(group.order_day, 10 * 3600 + group.supplier_id * 60),
            }

    def _po_line_rows(self, order: list[int]) -> Iterator[Row]:
        next_id = 1
        for group_index in order:
            group = self.history.groups[group_index]
            currency = self.company.supplier_by_id[group.supplier_id].spec.currency
            rate = self.company.rates.from_usd(currency, self.horizon.date_of(group.order_day))
            for item_id, quantity in sorted(self.history.group_lines[group_index].items()):
                cost = convert(self.company.item_by_id[item_id].item.standard_cost, rate)
                yield {
                    "id": next_id,
                    "order_id": self.po_ids[group_index],
                    "item_id": item_id,
                    "quantity": quantity,
                    "qty_received": quantity,
                    "unit_cost": cost,
                }
                next_id += 1

    # -- transfers ----------------------------------------------------------------------

    def transfers(self, plans: list[TransferPlan]) -> None:
        """Received transfers (the plans that moved anything), with intercompany postings at shipping."""
        moved = [
            (plan, self._transfer(index, plan))
            for index, plan in enumerate(plans)
            if index in self.history.transfer_lines
        ]
        transfers = [t for _, t in moved]
        postings = [
            p for plan, t in moved if plan.kind is TransferKind.INTERCOMPANY for p in self._postings(t, plan.day)
        ]
        for number, posting in enumerate(postings, start=1):
            posting.id = number
        self._insert(Transfer, [_row(t) for t in transfers])
        self._insert(TransferLine, [_row(line) for t in transfers for line in t.lines])
        self._insert(IntercompanyPosting, [_row(p) for p in postings])

    def _transfer(self, index: int, plan: TransferPlan) -> Transfer:
        transfer_id = self.transfer_ids[index] = len(self.transfer_ids) + 1
        source, target = self.company.entity_of(plan.source), self.company.entity_of(plan.target)
        when = self.horizon.date_of(plan.day)
        markup = self.company.markups[(source.id, target.id)] if plan.kind is TransferKind.INTERCOMPANY else Decimal(0)
        cost_rate = self.company.rates.from_usd(source.currency, when)
        transfer = Transfer(
            id=transfer_id,
            kind=plan.kind.value,
            status=TransferStatus.RECEIVED.value,
            from_warehouse_id=plan.source,
            to_warehouse_id=plan.target,
            from_entity_id=source.id,
            to_entity_id=target.id,
            from_currency=source.currency,
            to_currency=target.currency,
            exchange_rate=self.company.rates.rate(source.currency, target.currency, when),
            expected_date=when + timedelta(days=TRANSIT_DAYS[plan.kind]),
            created_by=self._mover(plan.kind, source.id),
            created_at=self.horizon.at(plan.day, 10 * 3600),
        )
        for item_id, quantity in self.history.transfer_lines[index]:
            self.transfer_lines_made += 1
            cost = convert(self.company.item_by_id[item_id].item.standard_cost, cost_rate)
            line = TransferLine(
                id=self.transfer_lines_made, transfer_id=transfer_id, item_id=item_id, quantity=quantity
            )
            line.unit_price = transfer_unit_price(cost, markup)
            transfer.lines.append(line)
        return transfer

    def _mover(self, kind: TransferKind, entity_id: int) -> int:
        """Intercompany moves need someone with both entities in scope: the group manager."""
        return self.company.users["grace"] if kind is TransferKind.INTERCOMPANY else self.keepers[entity_id]

    def _postings(self, transfer: Transfer, day: int) -> list[IntercompanyPosting]:
        """The core's own due-from and due-to, dated the day the goods left."""
        postings = intercompany_postings(transfer)
        for posting in postings:
            posting.posted_at = self.horizon.at(day, PHASE_SECONDS[3])
        return postings

    # -- ledger and balances ------------------------------------------------------------

    def ledger(self) -> None:
        """The ledger in time order (ids follow time), then each balance as the sum of its ledger rows."""
        moves = self.history.ledger
        moves.sort()
        balances: dict[tuple[int, int], list[int]] = {}
        self._insert(LedgerEntry, self._ledger_rows(balances))
        moves.clear()
        self._insert(
            StockBalance,
            (
                {
                    "item_id": i,
                    "warehouse_id": w,
                    "on_hand": b[0],
                    "reserved": 0,
                    "backordered": 0,
                    "incoming": 0,
                    "in_transit": b[1],
                }
                for (i, w), b in sorted(balances.items())
            ),
        )

    def _ref_id(self, kind: int, day: int, ref: int) -> int:
        if kind == K_SHIPMENT:
            return self.shipment_ids[(day, ref)]
        if kind == K_RECEIPT:
            return self.po_ids[ref]
        if kind == K_OPENING:
            return 0
        return self.transfer_ids[ref]

    def _ledger_rows(self, balances: dict[tuple[int, int], list[int]]) -> Iterator[Row]:
        admin = self.company.users["admin"]
        block, offset = (-1, -1), 0
        entity_of = {w.id: w.entity_id for w in self.company.warehouses}
        for row_id, (day, phase, _, item_id, warehouse_id, kind, quantity, ref) in enumerate(
            self.history.ledger, start=1
        ):
            offset = offset + 1 if (day, phase) == block else 0
            block = (day, phase)
            bucket, movement, ref_type = MOVES[kind]
            balance = balances.setdefault((item_id, warehouse_id), [0, 0])
            balance[bucket is Bucket.IN_TRANSIT] += quantity
            yield {
                "id": row_id,
                "item_id": item_id,
                "warehouse_id": warehouse_id,
                "bucket": bucket.value,
                "movement": movement.value,
                "quantity": quantity,
                "ref_type": ref_type,
                "ref_id": self._ref_id(kind, day, ref),
                "posted_at": self.horizon.at(day, PHASE_SECONDS[phase] + offset),
                "user_id": admin if kind == K_OPENING else self.keepers[entity_of[warehouse_id]],
                "note": OPENING_NOTE if kind == K_OPENING else "",
            }


def _cents(amount_e4: int) -> int:
    """An amount in 1/10000 units rounded half up to cents."""
    return (amount_e4 + 50) // 100


def _row(obj: Base) -> Row:
    """The column values of a transient ORM object."""
    return {c.key: getattr(obj, c.key) for c in table(type(obj)).columns}


def row_budget(history: StockHistory, plans: list[TransferPlan]) -> int:
    """At most how many rows writing the history takes, for progress."""
    shipments = len({(d, o) for d, o, _, _ in history.shipments})
    transfer_lines = sum(len(lines) for lines in history.transfer_lines.values())
    purchase_lines = sum(len(lines) for lines in history.group_lines)
    return (
        len(history.ledger)
        + len(history.end)
        + len(history.shipments)
        + shipments * 4  # shipment, invoice, payment and its application
        + len(history.groups)
        + purchase_lines
        + len(plans) * 3
        + transfer_lines
    )


def write_history_documents(
    session: Session,
    company: Company,
    book: OrderBook,
    history: StockHistory,
    plans: list[TransferPlan],
    rng: random.Random,
    written: Callable[[int], None],
) -> None:
    """Everything the stock simulation produced, written table by table."""
    writer = HistoryWriter(session, company, book, history, rng, written)
    writer.shipments()
    writer.payments()
    writer.purchase_orders()
    writer.transfers(plans)
    writer.ledger()
