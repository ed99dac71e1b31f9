"""Helpers for the web service's tests: an app over a test database and a scripted model, signed-in clients."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.agent import Assistant
from assistant.channels.web.app import create_app
from assistant.channels.web.services import Services, WebConfig
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.db import Database
from core.identity import set_password
from core.masterdata.models import Customer, Item, LegalEntity, Warehouse
from core.masterdata.service import load_actor
from core.sales.service import LineRequest, confirm_order, create_order, get_order
from core.shipping.service import ship_order
from core.stock.atp import free_stock
from core.stock.models import StockBalance
from evals.common.served import serving
from evals.common.sse import sse_events

PASSWORD = "correct horse battery"  # every test user's password
# The users the `demo` fixture (conftest.py) signs up; wes is left without a password on purpose (a refused sign-in).
WEB_USERS = ("sam", "maria", "uma", "grace", "fiona")
TRANSFER_OVER_LIMIT = {  # worth about USD 15,000: over the USD 10,000 a transfer may move without a manager
    "from_warehouse": "DAL",
    "to_warehouse": "ATL",
    "lines": [{"sku": "P-200", "quantity": 3}, {"sku": "P-180", "quantity": 5}],
}


def password_for(username: str) -> str:
    return f"{PASSWORD} {username}"


def set_passwords(db: Database, *usernames: str) -> None:
    def command(s: Any) -> None:
        for name in usernames:
            set_password(s, username=name, password=password_for(name))

    db.run(command)


def services(db: Database, script: Script, tmp_path: Path, **config: Any) -> Services:
    """The web service's parts over `db`, answering with `script`."""
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "web-conversations.db")
    settings = ModelSettings(model=scripted_model(script), retries=0)
    assistant = Assistant(db, checkpointer, channel="web", settings=settings)
    return Services(db, assistant, WebConfig(**{"secure_cookies": "auto", "widget_origins": [], **config}))


@contextmanager
def client(svc: Services, *, base_url: str = "http://testserver") -> Iterator[TestClient]:
    with TestClient(create_app(svc), base_url=base_url, raise_server_exceptions=False) as c:
        yield c


@contextmanager
def app(db: Database, tmp_path: Path, script: Script | None = None, **config: Any) -> Iterator[TestClient]:
    """A client of the web service over `db`, answering with `script` (by default a model with nothing to say)."""
    with client(services(db, Script([]) if script is None else script, tmp_path, **config)) as c:
        yield c


def sign_in(c: TestClient, username: str) -> dict[str, str]:
    """Sign `c` in as `username`; returns the headers its unsafe requests need (the CSRF token)."""
    response = c.post("/api/session", json={"username": username, "password": password_for(username)})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


events = sse_events  # the one parser, shared with the evals
served = serving  # the app under uvicorn on a loopback port, shared with the evals


def waiting_order(s: Session, number: str, line_no: int) -> str:
    """A new order of the same customer, item and warehouse as `number`'s line, confirmed with a backorder (maria's):
    one to re-allocate that line's reserved units to."""
    maria = load_actor(s, username="maria")
    order = get_order(s, maria, order_number=number)
    line = next(ln for ln in order.lines if ln.line_no == line_no)
    balance = s.get(StockBalance, (line.item_id, line.warehouse_id))
    assert balance is not None
    free = max(0, free_stock(balance.on_hand, balance.reserved, balance.backordered))
    customer, item = s.get(Customer, order.customer_id), s.get(Item, line.item_id)
    warehouse = s.get(Warehouse, line.warehouse_id)
    assert customer is not None and item is not None and warehouse is not None
    waiting = create_order(s, maria, customer=customer.code, lines=[LineRequest(item.sku, free + 2, warehouse.code)])
    confirm_order(s, maria, order_number=waiting.id, allow_backorder=True)
    return waiting.number


def shipped_na_order(db: Database, sku: str = "V-200", quantity: int = 5) -> str:
    """A fresh NA order, confirmed by sam and shipped today by wes (inside the return window); its number."""

    def command(s: Any) -> str:
        sam, wes = load_actor(s, username="sam"), load_actor(s, username="wes")
        customer = s.scalars(
            select(Customer.code)
            .join(LegalEntity, LegalEntity.id == Customer.entity_id)
            .where(LegalEntity.code == "NA", Customer.on_credit_hold.is_(False))
            .order_by(Customer.code)
        ).first()
        order = create_order(s, sam, customer=customer, lines=[LineRequest(sku, quantity, warehouse="DAL")])
        confirm_order(s, sam, order_number=order.id)
        ship_order(s, wes, order_number=order.id)
        return str(order.number)

    return db.run(command)
