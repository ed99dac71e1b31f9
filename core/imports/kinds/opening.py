"""Opening balances: the stock, open orders and receivables a company brings from its previous system.

They load after the master data, in the same transaction, through the typed loaders of `core.imports.opening`
and `core.imports.opening_documents` (the core's own commands, so an open order reserves and backorders as any
order does). Their cells are checked here like any kind's, every problem with its file, row and column; the
loaders run when the engine applies the plans (`Checking.after`), once the master data they name is written, and
report per record what they created, left unchanged or refused. A loader's refusal of a whole document (an error
the cell checks cannot see, e.g. an item without a price) becomes a problem on the document's first row, and
nothing is written.

An open document's key is its number in the previous system (`reference`); rows with the same reference are one
document's lines and must agree on the document's own columns.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Role
from core.errors import ErpError
from core.imports.kinds.common import amount, currency, within
from core.imports.opening import MAX_OPENING_QUANTITY, MAX_UNIT_COST, Change, Outcome, load_opening_stock
from core.imports.opening import OpeningStockRow as StockRow
from core.imports.opening_documents import (
    MAX_REF,
    OpenInvoice,
    OpenPurchaseLine,
    OpenPurchaseOrder,
    OpenSalesLine,
    OpenSalesOrder,
    load_open_invoices,
    load_open_purchase_orders,
    load_open_sales_orders,
)
from core.imports.plan import Checking, StepFailed
from core.imports.spec import Column, Kind, KindReport, Problem, Refusal, SourceRow
from core.masterdata.models import Item, LegalEntity, User, UserRole
from core.stock.service import MAX_QUANTITY

K = TypeVar("K")

REFERENCE_DOC = "Its number in the previous system: the key a re-run finds it by."


# --- Who the loaders act as ---------------------------------------------------------------------------------


def loading_actor(session: Session, actor: Actor) -> Actor:
    """The admin the opening balances are recorded in the name of, with every entity in scope (an import is an
    admin's setup act over the whole group, as for the master data). The setup actor of a first import is no user:
    the balances are then recorded in the name of the active admin the same import created (the first, by id)."""
    entities = frozenset(session.scalars(select(LegalEntity.id)))
    if actor.user_id:
        return Actor(actor.user_id, actor.username, actor.roles, entities)
    admin = session.execute(
        select(User.id, User.username)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.ADMIN.value, User.active.is_(True))
        .order_by(User.id)
    ).first()
    if admin is None:
        raise StepFailed(
            Problem(
                "users.csv",
                0,
                "",
                "opening balances are recorded in an admin's name: add a user with the admin role to users.csv, "
                "or import the master data first and run again as an admin",
            )
        )
    return Actor(admin.id, admin.username, frozenset({Role.ADMIN}), entities)


# --- Running a loader as a step of the import ---------------------------------------------------------------


def _step(
    checking: Checking,
    kind: Kind,
    first_rows: dict[K, SourceRow],
    label: Callable[[K], str],
    load: Callable[[Session, Actor], Outcome[K]],
    column: str = "reference",
) -> None:
    """Append the loader to the engine's steps: it runs once the master data is written; its outcome fills the
    kind's report; an error of the core becomes a problem on the row it is about (a failed step writes nothing)."""
    report = checking.reports.setdefault(kind.name, KindReport(kind.name))
    actor = checking.actor
    checking.progress(f"check {kind.name}", len(first_rows), len(first_rows))

    def run(session: Session) -> None:
        try:
            outcome = load(session, loading_actor(session, actor))
        except ErpError as error:
            ref = error.details.get("external_ref")
            row = first_rows.get(ref) if ref is not None else None
            where = row or next(iter(first_rows.values()))
            raise StepFailed(Problem(where.file, where.row if row else 0, "", error.message)) from None
        checking.progress(f"load {kind.name}", len(first_rows), len(first_rows))
        report.created = outcome.count(Change.CREATED)
        report.updated = outcome.count(Change.UPDATED)
        report.unchanged = outcome.count(Change.UNCHANGED)
        report.refused = [Refusal(label(k), column, why) for k, why in outcome.refused.items()]

    if first_rows:
        checking.after.append(run)


def _today_or_before(checking: Checking, row: SourceRow, column: str) -> bool:
    day: date | None = row[column]
    if day is not None and day > clock.today():
        checking.problem(row, column, f"{column} {day} is in the future; today is {clock.today()}")
        return False
    return True


def _not_before(checking: Checking, row: SourceRow, column: str, earlier: str) -> bool:
    if row[column] is not None and row[earlier] is not None and row[column] < row[earlier]:
        checking.problem(row, column, f"{column} {row[column]} is before {earlier} {row[earlier]}")
        return False
    return True


@dataclass
class _Document:
    """The rows of one document by its reference: its first row holds the document's own columns."""

    first: SourceRow
    rows: list[SourceRow]


def _documents(checking: Checking, rows: Sequence[SourceRow], header: tuple[str, ...]) -> dict[str, _Document]:
    """Rows grouped by reference; a row that disagrees with its document's first row on `header` is a problem."""
    documents: dict[str, _Document] = {}
    for row in rows:
        ref: str = row["reference"]
        document = documents.get(ref)
        if document is None:
            documents[ref] = _Document(row, [row])
            continue
        differs = [c for c in header if row[c] != document.first[c] and row[c] is not None]
        if differs:
            checking.problem(
                row,
                differs[0],
                f"{differs[0]} differs from row {document.first.row} of {ref}: the rows of one document share it",
            )
        document.rows.append(row)
    return documents


def _quantity(checking: Checking, row: SourceRow, column: str, low: int) -> bool:
    return within(checking, row, column, low, MAX_QUANTITY)


def _reference(kind: str) -> Column:
    return Column("reference", "text", True, {"po": "PO-4471", "so": "SO-88120", "inv": "INV-2026-0912"}[kind],
                  REFERENCE_DOC, MAX_REF)  # fmt: skip


# --- Opening stock ------------------------------------------------------------------------------------------

STOCK_COLUMNS = (
    Column("warehouse", "code", True, "ATL", "The warehouse (warehouses.csv or the database)."),
    Column("sku", "text", True, "V-200", "The item (items.csv or the database)."),
    Column("quantity", "integer", True, "140", f"Units on hand there, 0 to {MAX_OPENING_QUANTITY:,}."),
    Column(
        "unit_cost",
        "decimal",
        False,
        "11.67",
        "What one unit is valued at, in the warehouse's entity currency (the item's standard cost if left out).",
    ),
)


def check_opening_stock(checking: Checking, rows: list[SourceRow]) -> None:
    """Each item x warehouse once, a whole quantity, a cost of 0 or more; loaded as `opening` ledger receipts."""
    wanted: list[StockRow] = []
    first: dict[tuple[int, int], SourceRow] = {}
    costs = _standard_costs(checking) if any(r["unit_cost"] is None for r in rows) else {}
    for row in rows:
        warehouse = checking.resolve(row, "warehouse", "warehouses", "warehouse", "warehouses.csv")
        item = checking.resolve(row, "sku", "items", "SKU", "items.csv")
        ok = within(checking, row, "quantity", 0, MAX_OPENING_QUANTITY) & amount(checking, row, "unit_cost")
        if row["unit_cost"] is not None and row["unit_cost"] > MAX_UNIT_COST:
            checking.problem(row, "unit_cost", f"{row['unit_cost']} is more than {MAX_UNIT_COST:,}; check the figure")
            ok = False
        if warehouse is None or item is None or not ok:
            continue
        key = (item, warehouse)
        if key in first:
            checking.problem(row, "sku", f"{row['sku']} at {row['warehouse']} is on row {first[key].row} already")
            continue
        first[key] = row
        cost = row["unit_cost"] if row["unit_cost"] is not None else costs.get(row["sku"], Decimal(0))
        wanted.append(StockRow(item, warehouse, row["quantity"], cost))
    names = {key: f"{r['sku']} at {r['warehouse']}" for key, r in first.items()}
    _step(
        checking,
        OPENING_STOCK,
        first,
        lambda key: names[key],
        lambda session, actor: load_opening_stock(session, actor, wanted),
        "quantity",
    )


def _standard_costs(checking: Checking) -> dict[str, Decimal]:
    """Standard costs by SKU from the database and from items.csv (the item plans made so far)."""
    costs = {sku: Decimal(cost) for sku, cost in checking.session.execute(select(Item.sku, Item.standard_cost))}
    for plan in checking.plans:
        if plan.model is Item:
            costs |= {r["sku"]: Decimal(r["standard_cost"]) for r in (*plan.inserts, *plan.updates)}
    return costs


OPENING_STOCK = Kind(
    "opening_stock",
    "Opening stock",
    STOCK_COLUMNS,
    ("warehouse", "sku"),
    ("warehouses", "items"),
    check_opening_stock,
    "What is on hand in each warehouse on the day the company moves in, one row per item and warehouse, posted "
    "as `opening` ledger receipts. A changed figure posts the difference while nothing else has moved that stock.",
    ("quantity and unit_cost, once anything else has moved the item's stock in that warehouse (use a count)",),
)

# --- Open purchase orders -----------------------------------------------------------------------------------

PURCHASE_COLUMNS = (
    _reference("po"),
    Column("supplier", "code", True, "KEYSTONE", "The supplier (suppliers.csv or the database)."),
    Column("warehouse", "code", True, "ATL", "The warehouse it is to arrive at."),
    Column("expected_date", "date", True, "2026-12-04", "When it is expected (a past date keeps it late)."),
    Column("order_date", "date", False, "2026-11-02", "When it was ordered (today if left out; not in the future)."),
    Column("sku", "text", True, "V-200", "The item of this line."),
    Column("quantity", "integer", True, "200", f"Units ordered, 1 to {MAX_QUANTITY:,}."),
    Column(
        "received", "integer", False, "50", "Units already received (they are in the opening stock; 0 if left out)."
    ),
    Column("unit_price", "decimal", True, "11.20", "Price per unit in the supplier's currency."),
)
PURCHASE_HEADER = ("supplier", "warehouse", "expected_date", "order_date")


def check_open_purchase_orders(checking: Checking, rows: list[SourceRow]) -> None:
    """One row per line; the lines of one reference make one order, created by the purchasing service."""
    orders: list[OpenPurchaseOrder] = []
    documents = _documents(checking, rows, PURCHASE_HEADER)
    for ref, document in documents.items():
        head = document.first
        supplier = checking.resolve(head, "supplier", "suppliers", "supplier", "suppliers.csv")
        warehouse = checking.resolve(head, "warehouse", "warehouses", "warehouse", "warehouses.csv")
        ok = _today_or_before(checking, head, "order_date")
        lines = [line for row in document.rows if (line := _purchase_line(checking, row)) is not None]
        if len(lines) != len(document.rows) or supplier is None or warehouse is None or not ok:
            continue
        if all(line.received == line.quantity for line in lines):
            checking.problem(head, "received", f"every line of {ref} is fully received: it is not open; leave it out")
            continue
        orders.append(OpenPurchaseOrder(ref, supplier, warehouse, head["expected_date"], lines, head["order_date"]))
    _step(
        checking,
        OPEN_PURCHASE_ORDERS,
        {ref: d.first for ref, d in documents.items()},
        str,
        lambda session, actor: load_open_purchase_orders(session, actor, orders),
    )


def _purchase_line(checking: Checking, row: SourceRow) -> OpenPurchaseLine | None:
    item = checking.resolve(row, "sku", "items", "SKU", "items.csv")
    ok = _quantity(checking, row, "quantity", 1) & amount(checking, row, "unit_price")
    ok &= within(checking, row, "received", 0, MAX_QUANTITY)
    received = row["received"] or 0
    if ok and received > row["quantity"]:
        checking.problem(row, "received", f"{received} received is more than the {row['quantity']} ordered")
        ok = False
    return OpenPurchaseLine(item, row["quantity"], received, row["unit_price"]) if ok and item is not None else None


OPEN_PURCHASE_ORDERS = Kind(
    "open_purchase_orders",
    "Open purchase orders",
    PURCHASE_COLUMNS,
    ("reference",),
    ("suppliers", "warehouses", "items"),
    check_open_purchase_orders,
    "Purchase orders still to arrive, one row per line (rows with the same reference are one order): incoming "
    "supply from their expected date, net of what already arrived.",
    ("an order already loaded, once its lines or supplier differ (change it with the product's commands)",),
)

# --- Open sales orders --------------------------------------------------------------------------------------

SALES_COLUMNS = (
    _reference("so"),
    Column("customer", "code", True, "ACME", "The customer (customers.csv or the database)."),
    Column("warehouse", "code", True, "ATL", "The warehouse this line ships from."),
    Column("order_date", "date", True, "2026-11-12", "When it was ordered (not in the future)."),
    Column("requested_date", "date", True, "2026-11-28", "When the customer wants it (a past date keeps it late)."),
    Column("sku", "text", True, "V-200", "The item of this line."),
    Column("quantity", "integer", True, "24", f"Units still to ship, 1 to {MAX_QUANTITY:,}."),
    Column("unit_price", "decimal", False, "18.50", "Price per unit (the customer's price today if left out)."),
    Column("customer_reference", "text", False, "PO 7781", "The customer's own order number.", 64),
)
SALES_HEADER = ("customer", "order_date", "requested_date", "customer_reference")


def check_open_sales_orders(checking: Checking, rows: list[SourceRow]) -> None:
    """One row per line; the lines of one reference make one order, created and confirmed as the core does."""
    orders: list[OpenSalesOrder] = []
    documents = _documents(checking, rows, SALES_HEADER)
    for ref, document in documents.items():
        head = document.first
        customer = checking.resolve(head, "customer", "customers", "customer", "customers.csv")
        warehouse = checking.resolve(head, "warehouse", "warehouses", "warehouse", "warehouses.csv")
        ok = _today_or_before(checking, head, "order_date") & _not_before(
            checking, head, "requested_date", "order_date"
        )
        lines = [line for row in document.rows if (line := _sales_line(checking, row)) is not None]
        if len(lines) != len(document.rows) or customer is None or warehouse is None or not ok:
            continue
        orders.append(
            OpenSalesOrder(
                ref,
                customer,
                warehouse,
                head["order_date"],
                head["requested_date"],
                lines,
                head["customer_reference"] or "",
            )
        )
    _step(
        checking,
        OPEN_SALES_ORDERS,
        {ref: d.first for ref, d in documents.items()},
        str,
        lambda session, actor: load_open_sales_orders(session, actor, orders),
    )


def _sales_line(checking: Checking, row: SourceRow) -> OpenSalesLine | None:
    item = checking.resolve(row, "sku", "items", "SKU", "items.csv")
    warehouse = checking.resolve(row, "warehouse", "warehouses", "warehouse", "warehouses.csv")
    ok = _quantity(checking, row, "quantity", 1) & amount(checking, row, "unit_price")
    if not ok or item is None or warehouse is None:
        return None
    return OpenSalesLine(item, row["quantity"], row["unit_price"], warehouse)


OPEN_SALES_ORDERS = Kind(
    "open_sales_orders",
    "Open sales orders",
    SALES_COLUMNS,
    ("reference",),
    ("customers", "warehouses", "items"),
    check_open_sales_orders,
    "Sales orders not yet shipped, one row per line (rows with the same reference are one order): confirmed, "
    "stock reserved, backordered where it is short, held if the customer is on credit hold.",
    ("an order already loaded, once its lines or customer differ (change it with the product's commands)",),
)

# --- Open receivables ---------------------------------------------------------------------------------------

RECEIVABLE_COLUMNS = (
    Column("customer", "code", True, "ACME", "The customer who owes it (customers.csv or the database)."),
    _reference("inv"),
    Column("invoice_date", "date", True, "2026-10-15", "When it was invoiced (not in the future)."),
    Column("due_date", "date", True, "2026-11-14", "When it is due: it ages from this day."),
    Column("amount", "decimal", True, "1840.00", "What is still open, above 0."),
    Column("currency", "text", True, "USD", "The customer's entity currency (ISO 4217).", 3),
)


def check_open_receivables(checking: Checking, rows: list[SourceRow]) -> None:
    """One row per invoice still owed; loaded as opening invoices that age and take payments."""
    invoices: list[OpenInvoice] = []
    first: dict[str, SourceRow] = {}
    for row in rows:
        customer = checking.resolve(row, "customer", "customers", "customer", "customers.csv")
        money = currency(checking, row, "currency")
        ok = amount(checking, row, "amount", positive=True) & _today_or_before(checking, row, "invoice_date")
        ok &= _not_before(checking, row, "due_date", "invoice_date")
        ref: str = row["reference"]
        if ref in first:
            checking.problem(row, "reference", f"invoice {ref} is on row {first[ref].row} already; give it once")
            continue
        first[ref] = row
        if customer is None or money is None or not ok:
            continue
        invoices.append(OpenInvoice(ref, customer, row["invoice_date"], row["due_date"], row["amount"], money))
    _step(
        checking,
        OPEN_RECEIVABLES,
        first,
        str,
        lambda session, actor: load_open_invoices(session, actor, invoices),
    )


OPEN_RECEIVABLES = Kind(
    "open_receivables",
    "Open receivables",
    RECEIVABLE_COLUMNS,
    ("reference",),
    ("customers",),
    check_open_receivables,
    "Invoices customers still owe, one row per invoice with its open amount: aged from the due date, counted in "
    "credit exposure, settled by payments.",
    ("amount and dates, once a payment or credit note has been applied to it here",),
)

OPENING_KINDS = (OPENING_STOCK, OPEN_PURCHASE_ORDERS, OPEN_SALES_ORDERS, OPEN_RECEIVABLES)

__all__ = ["OPENING_KINDS", "loading_actor"]
