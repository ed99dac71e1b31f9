"""Today's open business, made through the core's own services as the demo users.

Open purchase orders (dated incoming supply, some partly received), confirmed orders holding reservations
(some partly shipped, some backordered), drafts, an order held for a customer on credit hold, transfers on
the road and one not yet shipped, a few write-offs and finds with their reason codes, and the scenario
shortages. The generator tracks each (item, warehouse)'s free stock so that every command it sends is one
the core accepts.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from itertools import accumulate
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Role
from core.db import Database
from core.demo.company import Company, CustomerRef, ItemRef
from core.demo.demand import line_quantity
from core.demo.directory import ACME_CODE, user_for
from core.demo.scenario import Shortage
from core.demo.stock import KeyEnd
from core.drafts.supplier_invoices import current_tolerances
from core.masterdata.service import load_actor
from core.money import round_money
from core.payables.service import InvoiceLineRequest, book_supplier_invoice
from core.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from core.returns.service import ReturnRequest, authorise_return, receive_return
from core.sales.service import LineRequest, confirm_order, create_order
from core.shipping.service import ShipmentDetails, ship_order
from core.stock.counts import write_off_or_find
from core.transfers.service import TransferLineRequest, create_transfer, ship_transfer

T = TypeVar("T")
Key = tuple[int, int]

DOCUMENTS_MIN, ITEMS_PER_DOCUMENT, DOCUMENTS_MAX = 60, 100, 3_000
PURCHASE_SHARE, ORDER_SHARE = 0.30, 0.45
BACKORDER_SHARE, PARTIAL_SHARE = 0.15, 0.25  # of the confirmed orders
PO_LINES = 6
PICK_TRIES = 25
REQUESTED_DAYS = (0, 2, 3, 5, 7, 14)
# (from, to, shipped): the first transfers made; more cycle through them at scale.
TRANSFER_ROUTES = (("DAL", "RNO", True), ("DAL", "SIN", True), ("BHM", "MAN", False), ("ATL", "RNO", True))
# (units, reason code, note): written off (damage, shrinkage) or found, as a clerk posts them after a count.
ADJUSTMENTS = (
    (2, "damage", "damaged in handling"),
    (1, "shrinkage", "missing from the bin"),
    (3, "found", "found on the wrong shelf"),
    (1, "found", "turned up in returns staging"),
)
RECEIPT_EVERY = 4  # one purchase order in this many has had a first delivery: part of its first line
# (units, reason, received): customers sending back part of a shipped line of a partly shipped order in NA; one
# return is still on its way, the other is back on the shelf and credited.
RETURNS = ((2, "damaged in transit", False), (1, "wrong item ordered", True))
RETURN_ENTITY = "NA"
# Supplier invoices NA's finance booked against purchase orders: (how the invoice bills, days since its date).
# matched: the newest fully received PO, every line at its price (approved for payment, due 5 days ago);
# price: the next one's first line at 8% over the PO price (on hold, a case for the buyer; due in 27 days);
# over_billed: the first partly received PO's whole first line, half of which arrived (on hold; due in 5 days).
SUPPLIER_INVOICES = (("matched", 35), ("price", 3), ("over_billed", 25))
SUPPLIER_INVOICE_ENTITY = "NA"
PRICE_OVER = Decimal("1.08")


CARRIERS = (("UPS", "Ground", "1Z"), ("FedEx", "Express", "78"), ("DHL", "Economy", "JD"))


def _travel(order_id: int, now: datetime) -> ShipmentDetails:
    """A carrier and tracking number of the order's own (not from the generator's random stream, so the rest of
    the demo is the same), picked and packed earlier today: the shipment is on the road. Never before midnight, so
    a demo made just after midnight has the same history as one made at noon."""
    carrier, service, prefix = CARRIERS[order_id % len(CARRIERS)]
    midnight = datetime.combine(now.date(), time.min)
    return ShipmentDetails(
        carrier=carrier,
        service_level=service,
        tracking_number=f"{prefix}{order_id * 7919 % 10**10:010d}",
        packages=1 + order_id % 3,
        picked_at=max(midnight, now - timedelta(hours=2)),
        packed_at=max(midnight, now - timedelta(hours=1)),
    )


@dataclass(frozen=True)
class Plan:
    """How many of each kind of open document to make."""

    purchase_orders: int
    orders: int
    drafts: int
    transfers: int
    adjustments: int

    @classmethod
    def for_items(cls, items: int) -> "Plan":
        total = min(DOCUMENTS_MAX, max(DOCUMENTS_MIN, items // ITEMS_PER_DOCUMENT))
        return cls(
            purchase_orders=round(total * PURCHASE_SHARE),
            orders=round(total * ORDER_SHARE),
            drafts=max(2, total // 30),
            transfers=max(3, total // 40),
            adjustments=max(2, total // 50),
        )


class Present:
    """Sends today's commands and keeps each key's free stock (on hand - reserved - backordered)."""

    def __init__(
        self,
        db: Database,
        company: Company,
        end: dict[Key, KeyEnd],
        shortages: list[Shortage],
        rng: random.Random,
        report: Callable[[int], None],
    ) -> None:
        self.db = db
        self.company = company
        self.end = end
        self.rng = rng
        self.report = report
        self.today = company.horizon.as_of
        self.free = {key: state.on_hand for key, state in end.items()}
        self.reserved_for_scenarios = {
            (company.item_by_sku[s.sku].id, company.warehouse_by_code[code].id)
            for s in shortages
            for code in (s.short, s.plentiful)
        }
        self.actors: dict[str, Actor] = {}
        self.sellable = [i for i in company.items if i.weight > 0]
        self.sellable_weights = list(accumulate(i.weight for i in self.sellable))
        self.customers = [c for c in company.customers if not c.on_hold]
        self.customer_weights = list(accumulate(c.weight for c in self.customers))
        self.part_shipped: list[tuple[CustomerRef, int, LineRequest, int]] = []  # customer, order, line 1, units

    # -- plumbing -----------------------------------------------------------------------

    def _actor(self, username: str) -> Actor:
        if username not in self.actors:
            self.actors[username] = self.db.read(lambda s: load_actor(s, username=username))
        return self.actors[username]

    def _staff(self, role: Role, entity_id: int) -> Actor:
        return self._actor(user_for(role, self.company.entity_by_id[entity_id].code))

    def _run(self, command: Callable[[Session], T]) -> T:
        result = self.db.run(command)
        self.report(1)
        return result

    def _day(self, days: int) -> date:
        return self.today + timedelta(days=days)

    # -- choosing what to sell ----------------------------------------------------------

    def _pick_key(self, home_id: int, minimum: int) -> tuple[ItemRef, int] | None:
        """A popular item with at least `minimum` free at the warehouse that would serve this customer."""
        for item in self.rng.choices(self.sellable, cum_weights=self.sellable_weights, k=PICK_TRIES):
            warehouse_id = self.company.fulfilment_warehouse(item, home_id)
            key = (item.id, warehouse_id)
            if key not in self.reserved_for_scenarios and self.free.get(key, 0) >= minimum:
                return item, warehouse_id
        return None

    def _quantity(self, item: ItemRef, customer: CustomerRef) -> int:
        return line_quantity(self.rng, item, customer.tier)

    def _lines(self, customer: CustomerRef, count: int, backorder: bool) -> list[LineRequest]:
        """Order lines within free stock; a backorder order asks for more than is free on its first line."""
        lines: list[LineRequest] = []
        for _ in range(count):
            picked = self._pick_key(customer.home_id, 1)
            if picked is None or any(line.sku == picked[0].sku for line in lines):
                continue
            item, warehouse_id = picked
            key = (item.id, warehouse_id)
            wanted = self._quantity(item, customer)
            quantity = self.free[key] + wanted if backorder and not lines else min(wanted, self.free[key])
            self.free[key] -= quantity
            lines.append(LineRequest(item.sku, quantity, self.company.warehouse_by_id[warehouse_id].code))
        return lines

    def _customer(self) -> CustomerRef:
        return self.rng.choices(self.customers, cum_weights=self.customer_weights)[0]

    # -- sales orders -------------------------------------------------------------------

    def _place(self, customer: CustomerRef, lines: list[LineRequest], confirm: bool, backorder: bool = False) -> int:
        seller = self._staff(Role.SALES, customer.entity_id)
        requested = self._day(self.rng.choice(REQUESTED_DAYS))
        reference = f"PO {self.rng.randint(10_000, 99_999)}"

        def command(s: Session) -> int:
            order = create_order(
                s, seller, customer=customer.code, lines=lines, requested_date=requested, customer_reference=reference
            )
            if confirm:
                confirm_order(s, seller, order_number=order.id, allow_backorder=backorder)
            return order.id

        return self._run(command)

    def _ship_part(self, customer: CustomerRef, order_id: int, lines: list[LineRequest]) -> None:
        """Ship the first line (all of it if there are more lines, else half), leaving the order partly shipped."""
        quantity = lines[0].quantity if len(lines) > 1 else lines[0].quantity // 2
        if quantity < 1:
            return
        keeper = self._staff(Role.WAREHOUSE, customer.entity_id)
        travel = _travel(order_id, clock.now())
        self._run(lambda s: ship_order(s, keeper, order_number=order_id, quantities={1: quantity}, details=travel))
        self.part_shipped.append((customer, order_id, lines[0], quantity))

    def confirmed_orders(self, count: int) -> None:
        """Open orders holding stock; ACME's first, some backordered, some partly shipped."""
        acme = next(c for c in self.customers if c.code == ACME_CODE)
        for index in range(count):
            customer = acme if index == 0 else self._customer()
            backorder = index > 0 and self.rng.random() < BACKORDER_SHARE
            lines = self._lines(customer, self.rng.randint(1, 5), backorder)
            if not lines:
                continue
            order_id = self._place(customer, lines, confirm=True, backorder=backorder)
            if not backorder and (index == 0 or self.rng.random() < PARTIAL_SHARE):
                self._ship_part(customer, order_id, lines)

    def drafts(self, count: int) -> None:
        """Quotes not yet confirmed: they price and promise but reserve nothing."""
        for _ in range(count):
            customer = self._customer()
            items = self.rng.sample(self.sellable, self.rng.randint(1, 3))
            self._place(customer, [LineRequest(i.sku, self._quantity(i, customer)) for i in items], confirm=False)

    def held_orders(self) -> None:
        """Each customer on credit hold has tried to order: confirming puts the order on hold."""
        for customer in self.company.customers:
            if customer.on_hold:
                items = self.rng.sample(self.sellable, 2)
                self._place(customer, [LineRequest(i.sku, self._quantity(i, customer)) for i in items], confirm=True)

    # -- supply -------------------------------------------------------------------------

    def _needs(self) -> list[Key]:
        """Keys at or below their reorder point, most urgent first."""
        keys = [
            key
            for key, state in self.end.items()
            if state.order_quantity and state.on_hand <= state.reorder_point and key not in self.reserved_for_scenarios
        ]
        return sorted(keys, key=lambda k: (self.end[k].on_hand / max(1, self.end[k].reorder_point), k))

    def purchase_orders(self, count: int) -> None:
        """Replenishment on order for the most urgent keys, a purchase order per supplier and warehouse."""
        batches: dict[tuple[int, int], list[Key]] = {}
        for key in self._needs():
            supplier = self.company.supplier_for(
                self.company.item_by_id[key[0]], self.company.warehouse_by_id[key[1]].entity_id
            )
            batches.setdefault((supplier.id, key[1]), []).append(key)
        made = 0
        for (supplier_id, warehouse_id), keys in batches.items():
            for start in range(0, len(keys), PO_LINES):
                if made == count:
                    return
                lines = [
                    PurchaseLineRequest(self.company.item_by_id[i].sku, self.end[(i, w)].order_quantity)
                    for i, w in keys[start : start + PO_LINES]
                ]
                po_id = self._order_supply(supplier_id, warehouse_id, lines, None)
                if made % RECEIPT_EVERY == RECEIPT_EVERY - 1:
                    self._receive_part(po_id, warehouse_id, lines[0])
                made += 1

    def _receive_part(self, po_id: int, warehouse_id: int, line: PurchaseLineRequest) -> None:
        """A first delivery: half of the first line (at least one unit) arrived; the rest is still incoming."""
        if line.quantity < 2:
            return
        arrived = line.quantity // 2  # not counted as free: waiting backorders there take it first
        keeper = self._staff(Role.WAREHOUSE, self.company.warehouse_by_id[warehouse_id].entity_id)
        self._run(lambda s: receive_purchase_order(s, keeper, po_number=po_id, quantities={line.sku: arrived}))

    def _order_supply(
        self, supplier_id: int, warehouse_id: int, lines: list[PurchaseLineRequest], days: int | None
    ) -> int:
        supplier = self.company.supplier_by_id[supplier_id]
        buyer = self._staff(Role.BUYER, supplier.entity_id)
        due = self._day(days if days is not None else self.rng.randint(3, supplier.spec.lead_time_days + 5))
        warehouse = self.company.warehouse_by_id[warehouse_id].code
        return self._run(
            lambda s: (
                create_purchase_order(
                    s, buyer, supplier=supplier.code, warehouse=warehouse, lines=lines, expected_date=due
                ).id
            )
        )

    def transfers(self, count: int) -> None:
        """Stock moving between warehouses: most already on the road, one still being picked."""
        for index in range(count):
            source, target, shipped = TRANSFER_ROUTES[index % len(TRANSFER_ROUTES)]
            self._transfer(source, target, shipped)

    def _transfer(self, source: str, target: str, shipped: bool) -> None:
        origin = self.company.warehouse_by_code[source]
        lines: list[TransferLineRequest] = []
        for _ in range(self.rng.randint(1, 3)):
            picked = self._pick_key(origin.id, 1)
            if picked is None or picked[1] != origin.id or any(line.sku == picked[0].sku for line in lines):
                continue
            item = picked[0]
            quantity = min(self.free[(item.id, origin.id)], item.typical_qty * self.rng.randint(2, 6))
            self.free[(item.id, origin.id)] -= quantity
            lines.append(TransferLineRequest(item.sku, quantity))
        if not lines:
            return
        same_entity = origin.entity_id == self.company.warehouse_by_code[target].entity_id
        mover = self._staff(Role.WAREHOUSE, origin.entity_id) if same_entity else self._actor("grace")

        def command(s: Session) -> None:
            transfer = create_transfer(s, mover, from_warehouse=source, to_warehouse=target, lines=lines)
            if shipped:
                ship_transfer(s, mover, transfer_number=transfer.id)

        self._run(command)

    def adjustments(self, count: int) -> None:
        """Count corrections found on the floor today."""
        for index in range(count):
            units, reason, note = ADJUSTMENTS[index % len(ADJUSTMENTS)]
            warehouse = self.rng.choice(self.company.warehouses)
            picked = self._pick_key(warehouse.id, 5)
            if picked is None:
                continue
            self._adjust(picked[0], picked[1], units, reason, note)

    def _adjust(self, item: ItemRef, warehouse_id: int, units: int, reason: str, note: str) -> None:
        self.free[(item.id, warehouse_id)] += units if reason == "found" else -units
        warehouse = self.company.warehouse_by_id[warehouse_id]
        keeper = self._staff(Role.WAREHOUSE, warehouse.entity_id)
        self._run(
            lambda s: write_off_or_find(
                s, keeper, sku=item.sku, warehouse=warehouse.code, quantity=units, reason=reason, note=note
            )
        )

    # -- returns ------------------------------------------------------------------------

    def returns(self) -> None:
        """RMAs against the first line of the latest partly shipped orders in NA (ACME's and the scenarios' aside):
        one authorised and awaited, one received, restocked and credited. No random draws: the rest stays put."""
        candidates = [
            (customer, order_id, shipped)
            for customer, order_id, line, shipped in reversed(self.part_shipped)
            if customer.code != ACME_CODE
            and self.company.entity_by_id[customer.entity_id].code == RETURN_ENTITY
            and self._key(line) not in self.reserved_for_scenarios
        ]
        for (units, reason, received), (customer, order_id, shipped) in zip(RETURNS, candidates, strict=False):
            self._return(customer, order_id, min(units, shipped), reason, received)

    def _key(self, line: LineRequest) -> Key:
        assert line.warehouse is not None  # the present's own lines always name their warehouse
        return self.company.item_by_sku[line.sku].id, self.company.warehouse_by_code[line.warehouse].id

    def _return(self, customer: CustomerRef, order_id: int, units: int, reason: str, received: bool) -> None:
        seller = self._staff(Role.SALES, customer.entity_id)
        request = [ReturnRequest(quantity=units, line_no=1)]
        rma_id = self._run(
            lambda s: authorise_return(s, seller, order_number=order_id, lines=request, reason=reason).id
        )
        if not received:
            return
        keeper = self._staff(Role.WAREHOUSE, customer.entity_id)
        # not counted as free, like a PO receipt: waiting backorders there take restocked units first
        self._run(lambda s: receive_return(s, keeper, rma_number=rma_id, disposition="restock"))

    # -- supplier invoices --------------------------------------------------------------

    def supplier_invoices(self) -> None:
        """The three invoices of SUPPLIER_INVOICES, booked by NA's finance; no random draws."""
        entity = next(e for e in self.company.entities if e.code == SUPPLIER_INVOICE_ENTITY)
        finance = self._staff(Role.FINANCE, entity.id)

        def pick(status: PurchaseOrderStatus, newest: bool) -> list[int]:
            order = PurchaseOrder.id.desc() if newest else PurchaseOrder.id
            query = select(PurchaseOrder.id).where(
                PurchaseOrder.entity_id == entity.id, PurchaseOrder.status == status.value
            )
            return list(self.db.read(lambda s: list(s.scalars(query.order_by(order).limit(2)))))

        received, partly = (
            pick(PurchaseOrderStatus.RECEIVED, True),
            pick(PurchaseOrderStatus.PARTIALLY_RECEIVED, False),
        )
        targets = {"matched": received[:1], "price": received[1:2], "over_billed": partly[:1]}
        for how, days in SUPPLIER_INVOICES:
            for po_id in targets[how]:
                self._run(partial(self._bill, finance=finance, po_id=po_id, how=how, days=days))

    def _bill(self, session: Session, *, finance: Actor, po_id: int, how: str, days: int) -> int:
        order = session.get(PurchaseOrder, po_id)
        assert order is not None
        lines = order.lines if how == "matched" else order.lines[:1]
        requests = [
            InvoiceLineRequest(
                quantity=ln.quantity if how == "over_billed" else ln.qty_received,
                unit_price=round_money(ln.unit_cost * PRICE_OVER) if how == "price" else ln.unit_cost,
                line_no=no,
            )
            for no, ln in enumerate(lines, start=1)
        ]
        return book_supplier_invoice(
            session,
            finance,
            po_number=po_id,
            supplier_ref=f"{how[:1].upper()}{7000 + po_id}",
            lines=requests,
            tolerances=current_tolerances(),
            invoice_date=self.today - timedelta(days=days),
            open_case=False,  # the load's exception detection raises it, after today's other cases
        ).id

    # -- scenarios ----------------------------------------------------------------------

    def shortage(self, shortage: Shortage) -> None:
        """Open orders take the short warehouse down to the scenario's ATP; backorders and supply follow."""
        item = self.company.item_by_sku[shortage.sku]
        short = self.company.warehouse_by_code[shortage.short]
        excess = self.free[(item.id, short.id)] - shortage.short_atp
        buyers = self._scenario_customers(short.id)
        parts = min(3, max(1, excess // max(1, item.typical_qty * 4)))
        for index in range(parts if excess > 0 else 0):
            quantity = excess // parts + (1 if index < excess % parts else 0)
            self._place(buyers[index % len(buyers)], [LineRequest(item.sku, quantity, short.code)], confirm=True)
        self.free[(item.id, short.id)] = shortage.short_atp
        if shortage.backordered:
            customer = buyers[-1]
            self._place(
                customer, [LineRequest(item.sku, shortage.backordered, short.code)], confirm=True, backorder=True
            )
        if shortage.po_days is not None:
            supplier = self.company.supplier_for(item, short.entity_id)
            self._order_supply(
                supplier.id, short.id, [PurchaseLineRequest(item.sku, shortage.po_quantity)], shortage.po_days
            )

    def _scenario_customers(self, warehouse_id: int) -> list[CustomerRef]:
        """Customers served from the warehouse, ACME first."""
        local = [c for c in self.customers if c.home_id == warehouse_id]
        local.sort(key=lambda c: (c.code != ACME_CODE, -c.weight, c.id))
        return (
            local[:3]
            or [c for c in self.customers if c.entity_id == self.company.warehouse_by_id[warehouse_id].entity_id][:3]
        )


def document_count(items: int, shortages: list[Shortage], holds: int) -> int:
    """How many commands `make_present` sends at most, for progress."""
    plan = Plan.for_items(items)
    scenario = sum(3 + bool(s.backordered) + (s.po_days is not None) for s in shortages)
    confirmed = plan.orders * 2  # an order and possibly its partial shipment
    receipts = plan.purchase_orders // RECEIPT_EVERY
    others = plan.drafts + holds + plan.transfers + plan.adjustments
    returns = len(RETURNS) + sum(received for _, _, received in RETURNS)
    return plan.purchase_orders + receipts + confirmed + others + scenario + returns + len(SUPPLIER_INVOICES)


def make_present(
    db: Database,
    company: Company,
    end: dict[Key, KeyEnd],
    shortages: list[Shortage],
    rng: random.Random,
    report: Callable[[int], None],
) -> None:
    """Today's open documents, each one command of the core run as the user whose job it is."""
    plan = Plan.for_items(len(company.items))
    present = Present(db, company, end, shortages, rng, report)
    for shortage in shortages:
        present.shortage(shortage)
    present.purchase_orders(plan.purchase_orders)
    present.confirmed_orders(plan.orders)
    present.drafts(plan.drafts)
    present.held_orders()
    present.transfers(plan.transfers)
    present.adjustments(plan.adjustments)
    present.returns()
    present.supplier_invoices()
