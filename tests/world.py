"""A small company with round numbers, so tests can state exact expectations.

NA (USD): warehouses DAL, ATL.  UK (GBP): warehouse BHM.  1 USD = 0.80 GBP.
Stock: V-200 DAL 100 / ATL 12; V-220 DAL 30; P-100 DAL 5; F-300 BHM 50; X-900 (a 6,000 USD chiller) DAL 10.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Actor, Role
from core.db import Database
from core.masterdata.models import (
    ContractPrice,
    CurrencyRate,
    Customer,
    IntercompanyRule,
    Item,
    ItemSubstitute,
    LegalEntity,
    PriceList,
    PriceListItem,
    Supplier,
    User,
    UserEntityScope,
    UserRole,
    Warehouse,
)
from core.masterdata.service import load_actor, sku_key
from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.models import StockBalance
from core.stock.service import adjust_stock

T = TypeVar("T")

# username: (roles, entities, approval limit in each entity's currency)
USERS = {
    "sam": ([Role.SALES], ["NA"], 0),
    "wes": ([Role.WAREHOUSE], ["NA"], 0),
    "bea": ([Role.BUYER], ["NA"], 0),
    "fin": ([Role.FINANCE], ["NA"], 1_000_000),
    "mia": ([Role.MANAGER], ["NA", "UK"], 10_000),
    "gus": ([Role.MANAGER], ["NA"], 1_000_000),
    "nia": ([Role.MANAGER], ["NA"], 1_000_000),
    "ulf": ([Role.MANAGER], ["UK"], 1_000_000),
    "uma": ([Role.SALES, Role.WAREHOUSE], ["UK"], 0),
    "root": ([Role.ADMIN], ["NA", "UK"], 0),
}
OPENING_STOCK = [
    ("V-200", "DAL", 100),
    ("V-200", "ATL", 12),
    ("V-220", "DAL", 30),
    ("P-100", "DAL", 5),
    ("F-300", "BHM", 50),
    ("X-900", "DAL", 10),
]


def _master_data(session: Session) -> None:
    na = LegalEntity(code="NA", name="Northwind America", base_currency="USD", country="US")
    uk = LegalEntity(code="UK", name="Northwind UK", base_currency="GBP", country="GB")
    session.add_all([na, uk])
    session.flush()
    session.add_all(
        [
            Warehouse(code="DAL", name="Dallas DC", city="Dallas", entity_id=na.id),
            Warehouse(code="ATL", name="Atlanta DC", city="Atlanta", entity_id=na.id),
            Warehouse(code="BHM", name="Birmingham DC", city="Birmingham", entity_id=uk.id),
        ]
    )
    items = {
        sku: Item(
            sku=sku,
            sku_key=sku_key(sku),
            name=name,
            description=name,
            category=cat,
            standard_cost=Decimal(cost),
            list_price=Decimal(price),
        )
        for sku, name, cat, cost, price in [
            ("V-200", "Brass ball valve 3/4in", "valves", "10.00", "20.00"),
            ("V-220", "Brass ball valve 7/8in", "valves", "11.00", "22.00"),
            ("P-100", "Centrifugal pump 1hp", "pumps", "50.00", "100.00"),
            ("F-300", "Hex bolt M8 box of 100", "fasteners", "4.00", "9.00"),
            ("X-900", "Industrial chiller 20kW", "HVAC", "4000.00", "6000.00"),
        ]
    }
    session.add_all(items.values())
    session.flush()
    session.add(ItemSubstitute(item_id=items["V-200"].id, substitute_id=items["V-220"].id, priority=1))
    session.add_all(
        [
            CurrencyRate(from_currency="USD", to_currency="GBP", rate=Decimal("0.8"), valid_from=date(2020, 1, 1)),
            CurrencyRate(from_currency="GBP", to_currency="USD", rate=Decimal("1.25"), valid_from=date(2020, 1, 1)),
            IntercompanyRule(from_entity_id=na.id, to_entity_id=uk.id, markup_pct=Decimal(10)),
            IntercompanyRule(from_entity_id=uk.id, to_entity_id=na.id, markup_pct=Decimal(5)),
        ]
    )
    wholesale = PriceList(code="NA-WHOLESALE", name="NA wholesale", entity_id=na.id, currency="USD")
    session.add(wholesale)
    session.flush()
    session.add(PriceListItem(price_list_id=wholesale.id, item_id=items["V-200"].id, unit_price=Decimal("18.00")))
    customers = [
        Customer(
            code="ACME",
            name="Acme Industrial Supply",
            entity_id=na.id,
            tier="A",
            credit_limit=Decimal(50000),
            price_list_id=wholesale.id,
        ),
        Customer(code="BOLT", name="Bolt Brothers", entity_id=na.id, tier="C", credit_limit=Decimal(1000)),
        Customer(
            code="HOLDCO",
            name="Holdco Plumbing",
            entity_id=na.id,
            tier="B",
            credit_limit=Decimal(5000),
            on_credit_hold=True,
            credit_hold_reason="invoices 90 days overdue",
        ),
        Customer(code="BRIT", name="Brit Pipes Ltd", entity_id=uk.id, tier="B", credit_limit=Decimal(20000)),
    ]
    session.add_all(customers)
    session.flush()
    session.add(
        ContractPrice(
            customer_id=customers[0].id,
            item_id=items["P-100"].id,
            unit_price=Decimal("90.00"),
            valid_from=date(2020, 1, 1),
            valid_to=None,
        )
    )
    session.add_all(
        [
            Supplier(code="VALVECO", name="Valve Co", entity_id=na.id, currency="USD", lead_time_days=10),
            Supplier(code="UKSUP", name="UK Supplies", entity_id=uk.id, currency="GBP", lead_time_days=14),
        ]
    )
    entity_ids = {"NA": na.id, "UK": uk.id}
    for username, (roles, entities, limit) in USERS.items():
        user = User(username=username, display_name=username.title(), email=f"{username}@example.test")
        session.add(user)
        session.flush()
        session.add_all([UserRole(user_id=user.id, role=r.value) for r in roles])
        session.add_all(
            [UserEntityScope(user_id=user.id, entity_id=entity_ids[e], approval_limit=Decimal(limit)) for e in entities]
        )


def build_world(db: Database) -> None:
    """Create the world's master data and opening stock (through the core's own adjustments)."""
    db.run(_master_data)
    root = db.read(lambda s: load_actor(s, username="root"))
    for sku, warehouse, quantity in OPENING_STOCK:
        db.run(
            lambda s, sku=sku, wh=warehouse, q=quantity: adjust_stock(
                s, root, sku=sku, warehouse=wh, quantity=q, reason="opening stock"
            )
        )


class World:
    """The database plus short-hands tests use."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def actor(self, username: str) -> Actor:
        return self.db.read(lambda s: load_actor(s, username=username))

    def run(self, command: Callable[[Session], T]) -> T:
        return self.db.run(command)

    def read(self, query: Callable[[Session], T]) -> T:
        return self.db.read(query)

    def place_order(
        self,
        customer: str,
        *lines: LineRequest,
        user: str = "sam",
        requested: date | None = None,
        confirm: bool = False,
        backorder: bool = False,
    ) -> str:
        """A sales order `user` creates (and, with `confirm`, confirms in the same transaction); its number."""
        actor = self.actor(user)

        def command(s: Session) -> str:
            order = create_order(s, actor, customer=customer, lines=list(lines), requested_date=requested)
            if confirm:
                confirm_order(s, actor, order_number=order.id, allow_backorder=backorder)
            return order.number

        return self.run(command)

    def balance(self, sku: str, warehouse: str) -> StockBalance:
        def query(s: Session) -> StockBalance:
            row = s.scalars(
                select(StockBalance)
                .join(Item, Item.id == StockBalance.item_id)
                .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
                .where(Item.sku == sku, Warehouse.code == warehouse)
            ).first()
            return (
                row if row is not None else StockBalance(on_hand=0, reserved=0, backordered=0, incoming=0, in_transit=0)
            )

        return self.read(query)
