"""Master-data and credit drafts: a change to an item, customer, supplier, price or substitute; a customer's
credit limit; a credit hold.

Each applier runs the core command and reports its diff (field: before → after) as the preview's lines, with
the facts the policy judges: how far a cost moves, whether a price falls below cost, how far a limit rises.
The assistant's one master-data tool takes `MasterDataAsked` and its credit tool `CreditAsked`; `as_kind`
turns either into the kind and payload the gate stores.
"""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, normalised, said_as
from core.errors import InvalidInput
from core.finance.credit import change_credit_limit, place_credit_hold
from core.finance.service import credit_status
from core.masterdata.changes import (
    Change,
    Record,
    change_customer,
    change_item,
    change_substitute,
    change_supplier,
    set_contract_price,
    set_price_list_price,
)
from core.money import format_money
from core.policy.facts import DraftKind

Text = Field(None, max_length=160)


class MasterDataChangeDraft(DraftPayload):
    record: Record
    code: str = Field(min_length=1, max_length=40, description="SKU, customer or supplier code")
    create: bool = False
    name: str | None = Text
    category: str | None = Field(None, max_length=60)
    uom: str | None = Field(None, max_length=8)
    cost: Decimal | None = None
    list_price: Decimal | None = None
    active: bool | None = None
    entity: str | None = Field(None, max_length=16)
    tier: str | None = Field(None, max_length=8)
    terms_days: int | None = None
    price_list: str | None = Field(None, max_length=32)
    credit_limit: Decimal | None = None
    note: str | None = Field(None, max_length=2000)
    lead_time_days: int | None = None
    currency: str | None = Field(None, max_length=8)
    customer: str | None = Field(None, max_length=160)
    price: Decimal | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    substitute: str | None = Field(None, max_length=40)
    priority: int | None = None
    remove: bool = False

    def subject(self) -> tuple[str, ...]:
        return normalised(self.record, self.code, self.customer or self.price_list or self.substitute or "")


# Which fields each record takes (besides record, code); anything else is refused, naming the record's own.
FIELDS: dict[str, frozenset[str]] = {
    "item": frozenset({"create", "name", "category", "uom", "cost", "list_price", "active"}),
    "customer": frozenset({"create", "name", "entity", "tier", "terms_days", "price_list", "note", "credit_limit"}),
    "supplier": frozenset({"create", "name", "entity", "lead_time_days", "currency", "note"}),
    "price": frozenset({"price_list", "price", "remove"}),
    "contract": frozenset({"customer", "price", "valid_from", "valid_to"}),
    "substitute": frozenset({"substitute", "priority", "remove"}),
}


def _check_fields(payload: MasterDataChangeDraft) -> None:
    given = {name for name in payload.model_fields_set if name not in ("record", "code")}
    given = {n for n in given if getattr(payload, n) not in (None, False)}
    wrong = sorted(given - FIELDS[payload.record])
    if wrong:
        takes = ", ".join(sorted(FIELDS[payload.record]))
        raise InvalidInput(f"a {payload.record} change does not take {', '.join(wrong)}; it takes {takes}")


def _run(session: Session, actor: Actor, p: MasterDataChangeDraft) -> Change:
    if p.record == "item":
        return change_item(
            session,
            actor,
            sku=p.code,
            create=p.create,
            name=p.name,
            category=p.category,
            cost=p.cost,
            list_price=p.list_price,
            active=p.active,
            uom=p.uom,
        )
    if p.record == "customer":
        return change_customer(
            session,
            actor,
            code=p.code,
            create=p.create,
            name=p.name,
            entity=p.entity,
            tier=p.tier,
            terms_days=p.terms_days,
            price_list=p.price_list,
            note=p.note,
            credit_limit=p.credit_limit,
        )
    if p.record == "supplier":
        return change_supplier(
            session,
            actor,
            code=p.code,
            create=p.create,
            name=p.name,
            entity=p.entity,
            lead_time_days=p.lead_time_days,
            currency=p.currency,
            note=p.note,
        )
    if p.record == "price":
        if not p.price_list:
            raise InvalidInput("say which price list (price_list), e.g. NA-WHOLESALE")
        return set_price_list_price(session, actor, price_list=p.price_list, sku=p.code, price=p.price, remove=p.remove)
    if p.record == "contract":
        if not p.customer:
            raise InvalidInput("say whose contract price it is (customer)")
        return set_contract_price(
            session, actor, customer=p.customer, sku=p.code, price=p.price, valid_from=p.valid_from, valid_to=p.valid_to
        )
    if not p.substitute:
        raise InvalidInput("say which item is the substitute (substitute), e.g. V-220")
    return change_substitute(session, actor, sku=p.code, substitute=p.substitute, remove=p.remove, priority=p.priority)


def apply_master_data_change(session: Session, actor: Actor, payload: MasterDataChangeDraft) -> Applied:
    """Create or change one master-data record; the preview lists every field before → after."""
    _check_fields(payload)
    change = _run(session, actor, payload)
    verb = "Remove" if change.removed else "Create" if change.created else "Change"
    shown = [f for f in change.fields if not f.name.startswith("standard cost")]
    what = "; ".join(f"{f.name} {f.after}" if f.before is None else f"{f.name} {f.before} → {f.after}" for f in shown)
    # a new customer is granted credit: the policy judges it as it judges a limit raised from nothing
    granted = payload.credit_limit if change.record == "customer" and change.created and payload.credit_limit else None
    facts: dict[str, object] = {
        "record": change.label,
        "cost_change_pct": change.cost_change_pct,
        "below_cost": change.below_cost,
    }
    if granted is not None:
        facts |= {"customer": change.key, "credit_limit": granted, "credit_limit_before": Decimal(0)}
    return Applied(
        result_ref=change.key,
        entity_id=change.entity_id,
        currency=change.currency,
        amount=granted or Decimal(0),
        summary=f"{verb} {change.label}" + (f": {what}" if what and not change.removed else ""),
        effects=change.lines(),
        facts=facts,
    )


class CreditLimitChangeDraft(DraftPayload):
    customer: str = Field(min_length=1, max_length=160)
    credit_limit: Decimal
    reason: str = Field("", max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.customer)


def apply_credit_limit_change(session: Session, actor: Actor, payload: CreditLimitChangeDraft) -> Applied:
    """Raise or lower a customer's credit limit; the draft's amount is the rise (nothing for a cut)."""
    change = change_credit_limit(session, actor, customer=payload.customer, credit_limit=payload.credit_limit)
    status = credit_status(session, actor, customer=change.customer.code)
    cur = status.currency

    def money(amount: Decimal) -> str:
        return format_money(amount, cur)

    why = f" ({payload.reason.strip()})" if payload.reason.strip() else ""
    rise = max(change.after - change.before, Decimal(0))
    return Applied(
        result_ref=change.customer.code,
        entity_id=change.customer.entity_id,
        currency=cur,
        amount=rise,
        summary=f"{'Raise' if rise else 'Lower'} {change.customer.code}'s credit limit from {money(change.before)} to "
        f"{money(change.after)}{why}",
        effects=[
            f"{change.customer.code}: credit limit {money(change.before)} → {money(change.after)}",
            f"{change.customer.code}: exposure {money(status.exposure)}, available "
            f"{money(change.before - status.exposure)} → {money(status.available)}",
        ],
        facts={
            "customer": change.customer.code,
            "customer_on_hold": status.on_hold,
            "credit_limit": change.after,
            "credit_limit_before": change.before,
            "exposure_before": status.exposure,
            "exposure_after": status.exposure,
        },
    )


class CreditHoldDraft(DraftPayload):
    customer: str = Field(min_length=1, max_length=160)
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.customer)


def apply_credit_hold(session: Session, actor: Actor, payload: CreditHoldDraft) -> Applied:
    """Put a customer on credit hold; their draft orders go on hold with it."""
    before = credit_status(session, actor, customer=payload.customer)
    customer, held = place_credit_hold(session, actor, customer=payload.customer, reason=payload.reason)
    effects = [f"{customer.code}: credit hold off → on ({customer.credit_hold_reason})"]
    effects += [f"{number}: status draft → on hold" for number in held]
    effects.append(f"{customer.code}: new orders and order changes are blocked until finance releases the hold")
    return Applied(
        result_ref=customer.code,
        entity_id=customer.entity_id,
        currency=before.currency,
        amount=Decimal(0),  # a hold commits no money: the approver's limit does not come into it
        summary=f"Put {customer.code} {customer.name} on credit hold: {customer.credit_hold_reason}",
        effects=effects,
        facts={
            "customer": customer.code,
            "customer_on_hold": False,
            "credit_limit": before.credit_limit,
            "exposure_before": before.exposure,
            "exposure_after": before.exposure,
        },
    )


# --- What the assistant's tools take (no docstrings: they would join the schema the model reads) ---------------


class MasterDataAsked(DraftPayload):
    record: Record
    code: str = Field(min_length=1, max_length=40, description="SKU, customer or supplier code")
    cost: Decimal | None = Field(None, description="item: standard cost, USD")
    price: Decimal | None = Field(None, description="item: list price; price: on price_list; contract: for customer")
    active: bool | None = None
    credit_limit: Decimal | None = Field(None, description="customer")
    terms_days: int | None = Field(None, description="customer: payment terms")
    tier: str | None = Field(None, max_length=8, description="customer: A, B or C")
    price_list: str | None = Field(None, max_length=32)
    lead_time_days: int | None = Field(None, description="supplier")
    currency: str | None = Field(None, max_length=8, description="supplier")
    customer: str | None = Field(None, max_length=160, description="contract")
    substitute: str | None = Field(None, max_length=40, description="substitute: the other SKU")
    remove: bool = False
    note: str | None = Field(None, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.record, self.code, self.customer or self.price_list or self.substitute or "")


class CreditAsked(DraftPayload):
    action: Literal["release", "hold"] = Field(
        "release",
        json_schema_extra=said_as(
            {"release": ["lift", "unblock", "unhold", "off hold", "off credit hold", "remove the hold"]}
        ),
    )
    customer: str = Field(min_length=1, max_length=160)
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.action, self.customer)


def as_kind(asked: MasterDataAsked | CreditAsked) -> tuple[DraftKind, DraftPayload]:
    """The draft kind and payload a tool's arguments name: a credit limit alone is a credit_limit_change, a hold a
    credit_hold, a release a credit_hold_release; anything else a master_data_change."""
    from core.drafts.kinds import CreditHoldReleaseDraft  # kinds imports this module

    if isinstance(asked, CreditAsked):
        if asked.action == "hold":
            return DraftKind.CREDIT_HOLD, CreditHoldDraft(customer=asked.customer, reason=asked.reason)
        return DraftKind.CREDIT_HOLD_RELEASE, CreditHoldReleaseDraft(customer=asked.customer, reason=asked.reason)
    given = {n for n in asked.model_fields_set if getattr(asked, n) not in (None, False)} - {"record", "code"}
    if asked.credit_limit is not None:
        if asked.record != "customer":
            raise InvalidInput("a credit limit belongs to a customer: record customer, code the customer")
        if given - {"credit_limit", "note"}:
            raise InvalidInput("change the credit limit on its own (finance judges it), then the other fields")
        return DraftKind.CREDIT_LIMIT_CHANGE, CreditLimitChangeDraft(
            customer=asked.code, credit_limit=asked.credit_limit, reason=asked.note or ""
        )
    if not given:
        raise InvalidInput(
            f"say what to change on {asked.record} {asked.code}: e.g. cost, price, credit_limit, terms_days, "
            "lead_time_days, substitute"
        )
    fields = asked.model_dump(exclude_none=True, exclude={"credit_limit"})
    if asked.record == "item" and "price" in fields:
        fields["list_price"] = fields.pop("price")
    if not fields.get("remove"):
        fields.pop("remove", None)
    return DraftKind.MASTER_DATA_CHANGE, MasterDataChangeDraft(**fields)
