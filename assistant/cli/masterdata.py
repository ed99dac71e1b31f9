"""Master data and credit from the terminal: create and change items, customers, suppliers, prices, contract prices
and substitutes, a customer's credit limit and credit hold, each through the write gate; show one record."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from core.errors import InvalidInput
from core.masterdata.records import record_view
from core.policy.facts import DraftKind

masterdata_app = typer.Typer(
    help="Create and change master data and credit (each a draft the policy judges).", no_args_is_help=True
)
item_app = typer.Typer(help="Items: cost, list price, active, name, category.", no_args_is_help=True)
customer_app = typer.Typer(
    help="Customers: terms, tier, price list, note, credit limit, credit hold.", no_args_is_help=True
)
supplier_app = typer.Typer(help="Suppliers: lead time, currency, note.", no_args_is_help=True)
price_app = typer.Typer(help="Price-list prices.", no_args_is_help=True)
contract_app = typer.Typer(help="Customers' contract prices.", no_args_is_help=True)
substitute_app = typer.Typer(help="Approved item substitutes.", no_args_is_help=True)
for sub, name in (
    (item_app, "item"),
    (customer_app, "customer"),
    (supplier_app, "supplier"),
    (price_app, "price"),
    (contract_app, "contract"),
    (substitute_app, "substitute"),
):
    masterdata_app.add_typer(sub, name=name)

User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
Money = Annotated[str | None, typer.Option(help="An amount, e.g. 41.50.")]
Name = Annotated[str | None, typer.Option(help="The record's name.")]
Note = Annotated[str | None, typer.Option(help="A standing note (deliveries, invoicing).")]
Entity = Annotated[str | None, typer.Option(help="The legal entity of a new record, e.g. NA.")]
Sku = Annotated[str, typer.Argument(help="The item's SKU, e.g. V-200.")]
Code = Annotated[str, typer.Argument(help="The record's code, e.g. ACME.")]


def _amount(text: str | None, what: str) -> str | None:
    """An amount as typed ("41.50", "30,000"), checked as a number; the core refuses a negative one."""
    if text is None:
        return None
    try:
        return str(Decimal(text.replace(",", "").strip()))
    except InvalidOperation:
        raise fail(InvalidInput(f"{what} must be a number, e.g. 41.50; got '{text}'")) from None


def _change(record: str, code: str, user: str, yes: bool, **fields: Any) -> None:
    body = {"record": record, "code": code} | {k: v for k, v in fields.items() if v is not None and v is not False}
    draft_and_confirm(DraftKind.MASTER_DATA_CHANGE, body, user=user, yes=yes)


# --- items -----------------------------------------------------------------------------------------


@item_app.command("set")
def item_set(
    sku: Sku,
    cost: Money = None,
    list_price: Money = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Sell it, or stop selling it.")] = None,
    name: Name = None,
    category: Annotated[str | None, typer.Option(help="The catalogue category.")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Change an item's standard cost, list price (USD), active flag, name or category. A cost move above 10% or a
    list price below cost waits for a manager; orders and invoices already made keep their prices and costs."""
    _change(
        "item",
        sku,
        user,
        yes,
        cost=_amount(cost, "--cost"),
        list_price=_amount(list_price, "--list-price"),
        active=active,
        name=name,
        category=category,
    )


@item_app.command("new")
def item_new(
    sku: Sku,
    name: Annotated[str, typer.Option(help="The item's name.")],
    category: Annotated[str, typer.Option(help="The catalogue category.")],
    cost: Annotated[str, typer.Option(help="Standard cost, USD.")],
    list_price: Annotated[str, typer.Option(help="List price, USD.")],
    uom: Annotated[str, typer.Option(help="Unit of measure.")] = "EA",
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Create an item; a SKU already taken (even written differently: V200 for V-200) is refused, naming it."""
    _change(
        "item",
        sku,
        user,
        yes,
        create=True,
        name=name,
        category=category,
        cost=_amount(cost, "--cost"),
        list_price=_amount(list_price, "--list-price"),
        uom=uom,
    )


# --- customers -------------------------------------------------------------------------------------


@customer_app.command("set")
def customer_set(
    code: Code,
    credit_limit: Annotated[
        str | None, typer.Option(help="A new credit limit (entity currency): a credit_limit_change draft, on its own.")
    ] = None,
    terms: Annotated[int | None, typer.Option(help="Payment terms, days.")] = None,
    tier: Annotated[str | None, typer.Option(help="A, B or C.")] = None,
    price_list: Annotated[str | None, typer.Option(help="A price list of its entity, or none.")] = None,
    name: Name = None,
    note: Note = None,
    reason: Annotated[str, typer.Option(help="Why the credit limit changes.")] = "",
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Change a customer's terms, tier, price list, name or note; or (--credit-limit, on its own) its credit limit:
    a cut executes, a raise waits for finance unless finance asks for at most USD 25,000."""
    if credit_limit is not None:
        if any(v is not None for v in (terms, tier, price_list, name, note)):
            raise fail(InvalidInput("change the credit limit on its own (finance judges it), then the other fields"))
        body = {"customer": code, "credit_limit": _amount(credit_limit, "--credit-limit"), "reason": reason}
        draft_and_confirm(DraftKind.CREDIT_LIMIT_CHANGE, body, user=user, yes=yes)
        return
    _change("customer", code, user, yes, terms_days=terms, tier=tier, price_list=price_list, name=name, note=note)


@customer_app.command("new")
def customer_new(
    code: Code,
    name: Annotated[str, typer.Option(help="The customer's name.")],
    entity: Entity = None,
    tier: Annotated[str | None, typer.Option(help="A, B or C (default C).")] = None,
    terms: Annotated[int | None, typer.Option(help="Payment terms, days (default 30).")] = None,
    price_list: Annotated[str | None, typer.Option(help="A price list of its entity.")] = None,
    credit_limit: Annotated[str | None, typer.Option(help="Starting credit limit (entity currency).")] = None,
    note: Note = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Create a customer of an entity; its starting credit limit is judged as a raise from nothing."""
    _change(
        "customer",
        code,
        user,
        yes,
        create=True,
        name=name,
        entity=entity,
        tier=tier,
        terms_days=terms,
        price_list=price_list,
        credit_limit=_amount(credit_limit, "--credit-limit"),
        note=note,
    )


@customer_app.command("hold")
def customer_hold(
    code: Code,
    reason: Annotated[str, typer.Option(help="Why, e.g. '3 invoices unpaid'.")],
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Put a customer on credit hold: finance does it at once, anyone else asks finance. Their draft orders go on
    hold; new orders and changes are blocked until the hold is released."""
    draft_and_confirm(DraftKind.CREDIT_HOLD, {"customer": code, "reason": reason}, user=user, yes=yes)


# --- suppliers -------------------------------------------------------------------------------------


@supplier_app.command("set")
def supplier_set(
    code: Code,
    lead_time: Annotated[int | None, typer.Option(help="Lead time, days.")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO currency code, e.g. USD.")] = None,
    name: Name = None,
    note: Note = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Change a supplier's lead time, currency, name or note; purchase orders already placed keep theirs."""
    _change("supplier", code, user, yes, lead_time_days=lead_time, currency=currency, name=name, note=note)


@supplier_app.command("new")
def supplier_new(
    code: Code,
    name: Annotated[str, typer.Option(help="The supplier's name.")],
    lead_time: Annotated[int, typer.Option(help="Lead time, days.")],
    entity: Entity = None,
    currency: Annotated[str | None, typer.Option(help="ISO currency (default the entity's).")] = None,
    note: Note = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Create a supplier of an entity; a code already taken is refused."""
    _change(
        "supplier",
        code,
        user,
        yes,
        create=True,
        name=name,
        lead_time_days=lead_time,
        entity=entity,
        currency=currency,
        note=note,
    )


# --- prices and substitutes ------------------------------------------------------------------------


@price_app.command("set")
def price_set(
    price_list: Annotated[str, typer.Argument(help="The price list, e.g. NA-WHOLESALE.")],
    sku: Sku,
    price: Annotated[str, typer.Argument(help="The price in the list's currency.")],
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Set an item's price on a price list; below the item's cost it waits for a manager."""
    _change("price", sku, user, yes, price_list=price_list, price=_amount(price, "the price"))


@price_app.command("remove")
def price_remove(
    price_list: Annotated[str, typer.Argument(help="The price list, e.g. NA-WHOLESALE.")],
    sku: Sku,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Take an item off a price list: its customers then pay the list price."""
    _change("price", sku, user, yes, price_list=price_list, remove=True)


@contract_app.command("set")
def contract_set(
    customer: Annotated[str, typer.Argument(help="The customer, e.g. ACME.")],
    sku: Sku,
    price: Annotated[str | None, typer.Argument(help="The price in the customer's currency.")] = None,
    valid_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default today).")] = None,
    valid_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default open).")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """A customer's contract price for an item from a day (the running one ends the day before); without a price,
    --to ends the running contract. Below the item's cost it waits for a manager."""
    _change(
        "contract",
        sku,
        user,
        yes,
        customer=customer,
        price=_amount(price, "the price"),
        valid_from=_day(valid_from, "--from"),
        valid_to=_day(valid_to, "--to"),
    )


def _day(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise fail(InvalidInput(f"{what} takes a date as YYYY-MM-DD; got '{text}'")) from None


@substitute_app.command("add")
def substitute_add(
    sku: Sku,
    substitute: Annotated[str, typer.Argument(help="The substitute's SKU.")],
    priority: Annotated[int | None, typer.Option(help="1 is offered first (default: after the others).")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Approve an item as a substitute of another."""
    _change("substitute", sku, user, yes, substitute=substitute, priority=priority)


@substitute_app.command("remove")
def substitute_remove(
    sku: Sku,
    substitute: Annotated[str, typer.Argument(help="The substitute's SKU.")],
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Withdraw an approved substitute; order lines already substituted stay as they are."""
    _change("substitute", sku, user, yes, substitute=substitute, remove=True)


# --- reading ---------------------------------------------------------------------------------------


@masterdata_app.command("show")
def show(
    record: Annotated[str, typer.Argument(help="item, customer, supplier or price_list.")],
    code: Code,
    user: User = DEFAULT_USER,
) -> None:
    """One record: its fields, and its prices, contract prices or substitutes."""
    view = ask(user, lambda s, actor: record_view(s, actor, record=record.strip().lower(), code=code))
    table = Table(title=f"{view.record} {view.code}" + (f" ({view.entity})" if view.entity else ""))
    table.add_column("field")
    table.add_column("value")
    for label, value in view.fields:
        table.add_row(label, value)
    console.print(table)
    for line in view.related:
        console.print(line, highlight=False)
