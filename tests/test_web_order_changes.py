"""Substitutions and expedited freight over the web API on the demo company: typed routes through the write gate,
the charges in the order's fulfilment view and record, refusals mapped like every other route."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.masterdata.models import Customer, LegalEntity
from core.masterdata.service import load_actor
from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.reconciliation import stock_disagreements
from tests import web


def _sign_in(c: TestClient, username: str) -> dict[str, str]:
    c.cookies.clear()
    return web.sign_in(c, username)


def _order(demo: Database, sku: str = "V-200", quantity: int = 1) -> str:
    """A confirmed NA order for `quantity` of `sku` from DAL, placed by sam."""

    def command(s: Session) -> str:
        sam = load_actor(s, username="sam")
        customer = s.scalars(
            select(Customer.code)
            .join(LegalEntity, LegalEntity.id == Customer.entity_id)
            .where(LegalEntity.code == "NA", Customer.on_credit_hold.is_(False))
            .order_by(Customer.id)
        ).first()
        assert customer is not None
        order = create_order(s, sam, customer=customer, lines=[LineRequest(sku, quantity, warehouse="DAL")])
        confirm_order(s, sam, order_number=order.id)
        return order.number

    return demo.run(command)


def _substitute(c: TestClient, headers: dict[str, str], order: str, line: int = 1, **body: Any) -> Any:
    return c.post(f"/api/orders/{order}/lines/{line}/substitute", json={"confirm": True} | body, headers=headers)


def _expedite(c: TestClient, headers: dict[str, str], order: str, **body: Any) -> Any:
    base = {"amount": "15.00", "carrier": "FedEx", "reason": "line down", "confirm": True}
    return c.post(f"/api/orders/{order}/charges", json=base | body, headers=headers)


def test_sales_substitutes_an_approved_item_and_a_non_substitute_names_the_approved(
    client: TestClient, demo: Database
) -> None:
    order = _order(demo)
    sam = _sign_in(client, "sam")
    refused = _substitute(client, sam, order, sku="P-100")
    assert refused.status_code == 422 and refused.json()["code"] == "not_a_substitute", refused.text
    assert "V-220" in refused.json()["suggestions"]
    preview = _substitute(client, sam, order, sku="V-220", confirm=False)
    assert preview.status_code == 201, preview.text
    assert preview.json()["status"] == "unconfirmed" and "Substitute V-220 for V-200" in preview.json()["summary"]
    done = _substitute(client, sam, order, sku="V-220")
    assert done.json()["status"] == "executed", done.json()
    fulfilment = client.get(f"/api/orders/{order}/fulfilment").json()
    assert [ln["sku"] for ln in fulfilment["lines"]] == ["V-220"]
    assert demo.read(stock_disagreements) == []


def test_substitution_is_refused_for_the_warehouse_another_entity_and_unknown_items(
    client: TestClient, demo: Database
) -> None:
    web.set_passwords(demo, "wes")
    order = _order(demo)
    wes = _sign_in(client, "wes")
    assert _substitute(client, wes, order, sku="V-220").json()["code"] == "permission_denied"
    sam = _sign_in(client, "sam")
    assert _substitute(client, sam, order, sku="NOPE-9").status_code == 404
    assert _substitute(client, sam, order, line=99, sku="V-220").status_code == 422
    uk = _sign_in(client, "uma")
    assert _substitute(client, uk, order, sku="V-220").status_code == 403


def test_an_expedite_is_charged_and_shows_in_the_fulfilment_view_and_the_record(
    client: TestClient, demo: Database
) -> None:
    order = _order(demo, quantity=20)  # about USD 500 of valves: 15.00 of freight keeps the margin above 15%
    sam = _sign_in(client, "sam")
    charged = _expedite(client, sam, order)
    assert charged.status_code == 201 and charged.json()["status"] == "executed", charged.text
    [charge] = client.get(f"/api/orders/{order}/fulfilment").json()["charges"]
    assert (charge["kind"], charge["amount"], charge["carrier"], charge["treatment"]) == (
        "expedite",
        "15.00",
        "FedEx",
        "absorbed",
    )
    record = client.get(f"/api/records/{order}").json()
    assert {f["label"]: f["value"] for f in record["fields"]}["expedite freight"].startswith("USD 15.00 via FedEx")
    large = _expedite(client, sam, order, amount="900")
    assert large.json()["status"] == "pending_approval", large.json()
    assert len(client.get(f"/api/orders/{order}/fulfilment").json()["charges"]) == 1


def test_expedites_are_refused_for_finance_bad_amounts_and_another_entity(client: TestClient, demo: Database) -> None:
    order = _order(demo)
    sam = _sign_in(client, "sam")
    assert _expedite(client, sam, order, amount="-3").status_code == 422
    assert _expedite(client, sam, order, amount="5000000").status_code == 422
    assert _expedite(client, sam, order, carrier="").status_code == 422
    uk = _sign_in(client, "uma")
    assert _expedite(client, uk, order).status_code == 403
