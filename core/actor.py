"""Who is acting: the user's roles and legal entities, and the checks every service makes."""

from dataclasses import dataclass
from enum import StrEnum

from core.errors import OutOfScope, PermissionDenied


class Role(StrEnum):
    SALES = "sales"
    BUYER = "buyer"
    WAREHOUSE = "warehouse"
    MANAGER = "manager"
    FINANCE = "finance"
    ADMIN = "admin"


class Permission(StrEnum):
    SELL = "sell"
    MOVE_STOCK = "move_stock"
    RECEIVE = "receive"
    TRANSFER = "transfer"
    BUY = "buy"
    RECORD_PAYMENT = "record_payment"
    EDIT_MASTER_DATA = "edit_master_data"
    MANAGE_CREDIT = "manage_credit"
    BOOK_SUPPLIER_INVOICE = "book_supplier_invoice"
    VIEW_PAYABLES = "view_payables"


# Which roles may run which kind of command; reading needs only the entity in scope.
ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.SELL: frozenset({Role.SALES, Role.MANAGER, Role.ADMIN}),
    Permission.MOVE_STOCK: frozenset({Role.WAREHOUSE, Role.MANAGER, Role.ADMIN}),
    Permission.RECEIVE: frozenset({Role.WAREHOUSE, Role.BUYER, Role.MANAGER, Role.ADMIN}),
    Permission.TRANSFER: frozenset({Role.WAREHOUSE, Role.SALES, Role.MANAGER, Role.ADMIN}),
    Permission.BUY: frozenset({Role.BUYER, Role.MANAGER, Role.ADMIN}),
    Permission.RECORD_PAYMENT: frozenset({Role.FINANCE, Role.MANAGER, Role.ADMIN}),
    # Items, customers' terms, suppliers, prices, substitutes: the people who own that data, not sales or the floor.
    Permission.EDIT_MASTER_DATA: frozenset({Role.BUYER, Role.FINANCE, Role.MANAGER, Role.ADMIN}),
    # Asking for a credit-limit change or a credit hold: a salesperson may ask; the policy holds it for finance.
    Permission.MANAGE_CREDIT: frozenset({Role.SALES, Role.FINANCE, Role.MANAGER, Role.ADMIN}),
    # Accounts payable: finance books suppliers' invoices and releases held ones (buyers read them).
    Permission.BOOK_SUPPLIER_INVOICE: frozenset({Role.FINANCE, Role.MANAGER, Role.ADMIN}),
    Permission.VIEW_PAYABLES: frozenset({Role.FINANCE, Role.BUYER, Role.MANAGER, Role.ADMIN}),
}


@dataclass(frozen=True)
class Actor:
    """The person (or the person behind the assistant) a command runs as."""

    user_id: int
    username: str
    roles: frozenset[Role]
    entity_ids: frozenset[int]

    def can_see(self, entity_id: int) -> bool:
        """Whether the entity lies in this user's scope."""
        return entity_id in self.entity_ids

    def require_entity(self, entity_id: int, what: str) -> None:
        """Refuse when `what` (e.g. "customer ACME") belongs to an entity outside scope."""
        if entity_id not in self.entity_ids:
            raise OutOfScope(f"{what} belongs to a legal entity outside your scope")

    def may(self, permission: Permission) -> bool:
        """Whether one of the user's roles grants `permission` (`require` refuses when not)."""
        return bool(self.roles & ROLE_PERMISSIONS[permission])

    def require(self, permission: Permission) -> None:
        """Refuse unless one of the user's roles grants `permission`."""
        allowed = ROLE_PERMISSIONS[permission]
        if not self.roles & allowed:
            needed = ", ".join(sorted(allowed))
            raise PermissionDenied(
                f"{self.username} may not {permission.value.replace('_', ' ')}: needs one of the roles {needed}"
            )


ASSISTANT_CHANNEL = "assistant"


@dataclass(frozen=True)
class Person:
    """A human signed in through a channel (web, Slack, the local CLI). Only a Person approves.

    Channels create one after authenticating someone; the assistant's tools are only ever
    given an `Actor`, so no tool can hold the identity an approval needs.
    """

    actor: Actor
    channel: str

    def __post_init__(self) -> None:
        if self.channel == ASSISTANT_CHANNEL:
            raise PermissionDenied("the assistant cannot act as a signed-in person")
