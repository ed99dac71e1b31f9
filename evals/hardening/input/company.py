"""The company the inputs name: the demo company, the records and the users the requests use."""

from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.exceptions import ExceptionCase, detect_exceptions
from core.identity import issue_token
from core.masterdata.models import Customer, LegalEntity
from core.masterdata.service import load_actor
from core.sales.models import SalesOrder

DISCOUNTED = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1, "discount_pct": "20"}]}


@dataclass(frozen=True)
class Company:
    """The demo company with what the inputs name: users' tokens, a draft of sam's, a UK order and customer."""

    db: Database
    tokens: dict[str, str]
    sams_draft: str
    uk_order: str
    uk_customer: str
    cases: list[str]

    def headers(self, username: str) -> dict[str, str]:
        """The bearer-token header that signs in as `username`."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


USERS = ("sam", "uma", "maria", "bea", "grace")


def _uk(session: Session) -> tuple[str, str]:
    uk = session.scalars(select(LegalEntity.id).where(LegalEntity.code == "UK")).one()
    order = session.scalars(select(SalesOrder).where(SalesOrder.entity_id == uk).order_by(SalesOrder.id)).first()
    customer = session.scalars(select(Customer.code).where(Customer.entity_id == uk).order_by(Customer.id)).first()
    assert order is not None and customer is not None, "the demo company has a UK order and a UK customer"
    return order.number, customer


def sams_discounted_draft(db: Database) -> str:
    """A sales order of sam's at a discount that waits for a manager's approval; its number."""
    sam = db.read(lambda s: load_actor(s, username="sam"))
    draft = db.run(
        lambda s: draft_action(s, RequestContext(sam, "web"), confirmed=True, kind="sales_order", payload=DISCOUNTED)
    )
    return draft.number


def build_company(db: Database) -> Company:
    """Cases raised, a token for each user the inputs sign in as, a draft of sam's, and the UK records named."""
    db.run(detect_exceptions)
    tokens = db.run(lambda s: {u: issue_token(s, load_actor(s, username=u), name="hostile input").token for u in USERS})
    draft = sams_discounted_draft(db)
    uk_order, uk_customer = db.read(_uk)
    cases = db.read(lambda s: [c.number for c in s.scalars(select(ExceptionCase).order_by(ExceptionCase.id).limit(2))])
    return Company(db, tokens, draft, uk_order, uk_customer, cases)


def open_conversation(client: TestClient, company: Company, username: str) -> str:
    """A new conversation of `username`'s, opened through the API; its id."""
    return str(client.post("/api/conversations", json={}, headers=company.headers(username)).json()["id"])
