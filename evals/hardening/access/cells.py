"""Who, on what: the demo users and the records of each entity, and what the definitions say they may do."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from core.actor import ROLE_PERMISSIONS, Permission, Role
from core.demo.directory import USERS, user_for
from core.exceptions.service import MANAGING_ROLES

TARGETS = ("NA", "UK")
SINGLE_ROLES = (Role.SALES, Role.WAREHOUSE, Role.BUYER, Role.FINANCE, Role.MANAGER)
GROUP_USERS = ("admin", "grace")  # every entity in scope
ALLOWED, NOT_APPLICABLE, REFUSED = "allowed", "n/a", "refused "  # REFUSED + the refusal's code
REFUSAL_CODES = frozenset({"permission_denied", "out_of_scope", "not_found"})  # 403 and 404
OUT_OF_BOUNDS = frozenset({"permission_denied", "out_of_scope"})  # how a record out of reach is refused
DISCOUNT_NEEDING_A_MANAGER = "20"  # percent: above the policy's 15% a salesperson may give
HOLD_REASON = "held for the access matrix"

# --- Who, and on what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A demo user as the directory defines them."""

    username: str
    roles: frozenset[Role]
    entities: frozenset[str]
    limit_usd: int

    @property
    def label(self) -> str:
        roles = "+".join(sorted(r.value for r in self.roles))
        return f"{self.username} ({roles}, {'/'.join(sorted(self.entities))})"


def subjects() -> list[Subject]:
    """One user per single role and entity of TARGETS, then the users who see the whole group."""
    names = [user_for(role, entity) for entity in TARGETS for role in SINGLE_ROLES] + list(GROUP_USERS)
    by_name = {u.username: u for u in USERS}
    return [
        Subject(u.username, frozenset(u.roles), frozenset(u.entities), u.approval_limit_usd)
        for u in (by_name[name] for name in names)
    ]


@dataclass(frozen=True)
class Pending:
    """A draft waiting for approval that one cell may decide (or read)."""

    number: str
    requester: str
    approver_roles: frozenset[str]  # what the policy file asks for, on the draft's facts
    amount_usd: Decimal


@dataclass(frozen=True)
class Place:
    """The records of one legal entity the actions are tried on."""

    entity: str
    warehouse: str  # the entity's main warehouse
    second_warehouse: str
    sku: str  # the item most available at the main warehouse
    customer: str  # not on credit hold
    held_customer: str
    order: str  # a confirmed sales order
    shippable: tuple[str, int]  # an open sales order and a line of it with stock reserved
    substitutable: tuple[str, int, str]  # a confirmed order's line and an approved substitute in stock for it
    shipped: tuple[str, int]  # a sales order and a line of it with units shipped and still returnable
    rma: str  # an authorised return of one unit of that line, to read and to receive
    payment: str  # a posted customer payment, to read and to reverse
    purchase_order: str
    open_purchase_order: str  # one with goods still to receive
    supplier: str
    case: str  # an active exception case
    case_role: str | None  # the role it is routed to
    manager: str
    conversations: dict[str, str]  # owner -> conversation id


@dataclass(frozen=True)
class Cell:
    """One user and one entity's records; `drafts` are this cell's own drafts to decide."""

    subject: Subject
    place: Place
    drafts: dict[str, Pending]

    @property
    def in_scope(self) -> bool:
        return self.place.entity in self.subject.entities

    @property
    def role_names(self) -> set[str]:
        return {r.value for r in self.subject.roles}


# --- The definitions' answer ---------------------------------------------------------------------


def in_scope(cell: Cell) -> bool:
    """Reading needs only the entity in scope."""
    return cell.in_scope


def may(permission: Permission) -> Callable[[Cell], bool]:
    """A command: the entity in scope and a role the permission lists."""
    return lambda cell: cell.in_scope and bool(cell.subject.roles & ROLE_PERMISSIONS[permission])


def may_any(*permissions: Permission) -> Callable[[Cell], bool]:
    """A command more than one kind of role runs (expediting freight: sales or the warehouse)."""
    roles = frozenset().union(*(ROLE_PERMISSIONS[p] for p in permissions))
    return lambda cell: cell.in_scope and bool(cell.subject.roles & roles)


def may_handle_case(cell: Cell) -> bool:
    """Assigning or closing a case: a managing role, or the role the case is routed to."""
    routed = cell.place.case_role in cell.role_names
    return cell.in_scope and (bool(cell.subject.roles & MANAGING_ROLES) or routed)


def may_decide(verb: str) -> Callable[[Cell], bool]:
    """Approving or rejecting: not one's own draft, a role the policy asks for, the entity, the limit."""

    def rule(cell: Cell) -> bool:
        draft = cell.drafts[verb]
        return (
            cell.in_scope
            and draft.requester != cell.subject.username
            and bool(cell.role_names & draft.approver_roles)
            and cell.subject.limit_usd >= draft.amount_usd
        )

    return rule


def may_read_draft(cell: Cell) -> bool:
    """A draft is seen by its requester and by anyone with its entity in scope."""
    return cell.in_scope or cell.drafts["read"].requester == cell.subject.username


def nobody(_: Cell) -> bool:
    """Another user's conversation is theirs alone."""
    return False
