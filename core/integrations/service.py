"""Documents other systems send: an order from e-commerce or EDI, a shipment a WMS confirms, a goods receipt.

Each becomes a draft of the kind people and the assistant make (`sales_order`, `shipment`, `po_receipt`), as
the integration user, confirmed by the sending itself: the policy then executes it or holds it for a person.
Every request carries the sender's idempotency key. The first request under a key stores its result in the
transaction that drafted the document; a retry gets that result back and drafts nothing, and the key with a
different request is refused. Requests under one key queue behind each other (`queue_on_key`), so two retries
racing each other make one document. A request the core refuses writes nothing, so its retry is judged afresh.
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import RequestContext, draft_action, open_requirements, queue_on_key
from core.errors import IdempotencyConflict, InvalidInput, NotFound
from core.integrations.models import IntegrationRequest
from core.money import round_money
from core.policy.facts import DraftKind
from core.sales.service import quoted_prices

INTEGRATION_CHANNEL = "integration"
MAX_KEY = 80
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY}}}")  # printable ASCII without spaces: UUIDs, order ids, hashes
# The documents other systems may send, as the draft kinds they become.
DOCUMENT_KINDS = frozenset({DraftKind.SALES_ORDER, DraftKind.SHIPMENT, DraftKind.PO_RECEIPT})


@dataclass(frozen=True)
class Waiting:
    """An approval the document still waits for: a person with this role in this entity."""

    role: str
    entity: str


@dataclass(frozen=True)
class IntegrationResult:
    """What a request did, as its sender is told the first time and on every retry."""

    key: str
    kind: str  # the draft kind: sales_order, shipment, po_receipt
    draft: str  # DR-12
    status: str  # executed, pending_approval, blocked, failed
    outcome: str  # the policy's: execute, needs_approval, block
    decision: str  # the policy's decision in words, with its reasons
    waiting_for: tuple[Waiting, ...]
    documents: tuple[str, ...]  # what was created or recorded: SO-9, SH-4, PO-77
    failure: str | None
    reference: str | None  # the sender's own reference, as sent
    received_at: datetime

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "IntegrationResult":
        return cls(
            **{
                **data,
                "waiting_for": tuple(Waiting(**w) for w in data["waiting_for"]),
                "documents": tuple(data["documents"]),
                "received_at": datetime.fromisoformat(data["received_at"]),
            }
        )


@dataclass(frozen=True)
class Received:
    """A request's result, and whether it was a retry answered from the first request's stored result."""

    result: IntegrationResult
    replayed: bool


@dataclass(frozen=True)
class ExpectedPrice:
    """The unit price the sender's system charged for a SKU (its web shop's or the EDI order's)."""

    sku: str
    unit_price: Decimal


def check_key(key: str | None) -> str:
    """The sender's idempotency key, or a refusal saying what a key must be."""
    if key is None or not _KEY.fullmatch(key):
        raise InvalidInput(
            f"send an Idempotency-Key header of 1 to {MAX_KEY} printable characters without spaces (a UUID, "
            "or your own document id), the same on every retry of this request"
        )
    return key


def draft_key(actor: Actor, key: str) -> str:
    """The draft's idempotency key: the sender's key in the integration user's own space."""
    return f"integration:{actor.user_id}:{key}"


def receive_document(
    session: Session,
    actor: Actor,
    *,
    key: str,
    kind: DraftKind,
    payload: dict[str, Any],
    request: Mapping[str, Any],
    reference: str | None = None,
    check: Callable[[Session], None] | None = None,
) -> Received:
    """Take a document in under the sender's `key`: the first time as a confirmed draft of `kind` (after `check`,
    the kind's own checks of what the draft does not carry), on a retry of the same `request` the first result."""
    if kind not in DOCUMENT_KINDS:
        raise InvalidInput(f"other systems send {', '.join(sorted(DOCUMENT_KINDS))}, not {kind.value}")
    checked = check_key(key)
    queue_on_key(session, draft_key(actor, checked))
    fingerprint = _fingerprint(kind, request)
    stored = _stored(session, actor, checked)
    if stored is not None:
        return Received(_repeated(stored, fingerprint), replayed=True)
    if check is not None:
        check(session)
    ctx = RequestContext(actor, INTEGRATION_CHANNEL)
    draft = draft_action(
        session, ctx, kind=kind, payload=payload, confirmed=True, idempotency_key=draft_key(actor, checked)
    )
    result = _result(session, draft, checked, reference)
    session.add(
        IntegrationRequest(
            user_id=actor.user_id,
            key=checked,
            kind=kind.value,
            fingerprint=fingerprint,
            draft_id=draft.id,
            result=result.as_json(),
            created_at=result.received_at,
        )
    )
    session.flush()
    return Received(result, replayed=False)


def stored_result(session: Session, actor: Actor, *, key: str) -> IntegrationResult:
    """The result the request under this key got (only the integration user who sent it sees it)."""
    stored = _stored(session, actor, check_key(key))
    if stored is None:
        raise NotFound("request", key)
    return IntegrationResult.from_json(stored.result)


def check_prices(actor: Actor, *, customer: str, expected: Sequence[ExpectedPrice]) -> Callable[[Session], None]:
    """A check that the sender charged what the ERP will: the order is priced here (contract, price list, list
    price); a line whose price differs is refused, so the two systems never disagree about an order silently."""

    def check(session: Session) -> None:
        if not expected:
            return
        quoted = quoted_prices(session, actor, customer=customer, skus=[e.sku for e in expected])
        wrong = [
            f"{e.sku}: you sent {round_money(e.unit_price)}, the price here is {round_money(quoted[e.sku])}"
            for e in expected
            if round_money(e.unit_price) != round_money(quoted[e.sku])
        ]
        if wrong:
            raise InvalidInput(
                "the prices differ from the customer's prices here: "
                + "; ".join(wrong)
                + "; update your price list, or leave unit_price out to take the price here"
            )

    return check


def _fingerprint(kind: DraftKind, request: Mapping[str, Any]) -> str:
    body = json.dumps([kind.value, request], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _stored(session: Session, actor: Actor, key: str) -> IntegrationRequest | None:
    return session.scalars(
        select(IntegrationRequest).where(IntegrationRequest.user_id == actor.user_id, IntegrationRequest.key == key)
    ).first()


def _repeated(stored: IntegrationRequest, fingerprint: str) -> IntegrationResult:
    if stored.fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"the idempotency key '{stored.key}' was already used for a different request; "
            "send a retry exactly as the first request, or use a new key for a new document"
        )
    return IntegrationResult.from_json(stored.result)


def _result(session: Session, draft: DraftAction, key: str, reference: str | None) -> IntegrationResult:
    executed = draft.status == DraftStatus.EXECUTED and draft.result_ref is not None
    return IntegrationResult(
        key=key,
        kind=draft.kind,
        draft=draft.number,
        status=draft.status,
        outcome=draft.outcome,
        decision=draft.explanation,
        waiting_for=tuple(Waiting(role, entity) for role, entity in open_requirements(session, draft)),
        documents=tuple((draft.result_ref or "").split(", ")) if executed else (),
        failure=draft.failure_reason,
        reference=reference,
        received_at=clock.now(),
    )


__all__ = [
    "DOCUMENT_KINDS",
    "INTEGRATION_CHANNEL",
    "ExpectedPrice",
    "IntegrationResult",
    "Received",
    "Waiting",
    "check_key",
    "check_prices",
    "draft_key",
    "receive_document",
    "stored_result",
]
