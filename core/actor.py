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
    # Another system (an e-commerce site, EDI, a WMS) sending documents with an API token: it places orders,
    # confirms shipments and records receipts in its entities, and is never a person (it approves nothing).
    INTEGRATION = "integration"


# The roles people hold: only they approve drafts or own exception cases (an integration is a system).
PERSON_ROLES = frozenset(role for role in Role if role is not Role.INTEGRATION)


class Permission(StrEnum):
    PLACE_ORDER = "place_order"
    SELL = "sell"
    MOVE_STOCK = "move_stock"
    SHIP = "ship"
    RECEIVE = "receive"
    TRANSFER = "transfer"
    BUY = "buy"
    RECORD_PAYMENT = "record_payment"
    EDIT_MASTER_DATA = "edit_master_data"
    MANAGE_CREDIT = "manage_credit"
    BOOK_SUPPLIER_INVOICE = "book_supplier_invoice"
    VIEW_PAYABLES = "view_payables"


# Which roles may run which kind of command; reading needs only the entity in scope.
# An integration holds only the three documents other systems send: a new order, a shipment, a receipt.
ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    # Creating and confirming a new order; changing, pricing, cancelling or returning one is SELL.
    Permission.PLACE_ORDER: frozenset({Role.SALES, Role.MANAGER, Role.ADMIN, Role.INTEGRATION}),
    Permission.SELL: frozenset({Role.SALES, Role.MANAGER, Role.ADMIN}),
    Permission.MOVE_STOCK: frozenset({Role.WAREHOUSE, Role.MANAGER, Role.ADMIN}),
    # Shipping an order (a WMS confirms what it shipped); milestones, counts and adjustments are MOVE_STOCK.
    Permission.SHIP: frozenset({Role.WAREHOUSE, Role.MANAGER, Role.ADMIN, Role.INTEGRATION}),
    Permission.RECEIVE: frozenset({Role.WAREHOUSE, Role.BUYER, Role.MANAGER, Role.ADMIN, Role.INTEGRATION}),
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
        if Role.INTEGRATION in self.actor.roles:
            raise PermissionDenied(
                f"{self.actor.username} is an integration (another system), not a person: "
                "confirming and approving drafts is for people; its own documents are confirmed when sent"
            )
