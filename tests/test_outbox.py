"""The outbox: every business event commits with its change (or vanishes with it), each action emits its event once
through every door, positions follow commit order (PostgreSQL), and polling shows a caller only their entities."""

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actor import Person
from core.drafts.service import RequestContext, approve, draft_action, reject
from core.exceptions import ExceptionType
from core.exceptions.service import raise_case, resolve_case
from core.masterdata.service import get_entity
from core.outbox import OutboxEvent, events_after, publish, sequence_events
from core.outbox.service import consume, event_body
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from core.receivables.service import record_payment
from core.sales.service import LineRequest, confirm_order
from core.shipping.service import ship_order
from core.transfers.service import TransferLineRequest, create_transfer, receive_transfer, ship_transfer
from tests.world import World


def _types(world: World) -> Counter[str]:
    return Counter(world.read(lambda s: list(s.scalars(select(OutboxEvent.type)))))


def _events(world: World, type: str) -> list[OutboxEvent]:
    return world.read(
        lambda s: list(s.scalars(select(OutboxEvent).where(OutboxEvent.type == type).order_by(OutboxEvent.id)))
    )


def _after(world: World, before: Counter[str]) -> Counter[str]:
    return _types(world) - before


def test_an_event_commits_with_its_change_and_vanishes_with_a_rollback(world: World) -> None:
    sam = world.actor("sam")
    number = world.place_order("ACME", LineRequest("V-200", 5, "DAL"))
    before = _types(world)

    def confirm_then_fail(s: Session) -> None:
        confirm_order(s, sam, order_number=number)
        raise RuntimeError("the disk filled up after the confirmation")

    with pytest.raises(RuntimeError):
        world.run(confirm_then_fail)
    assert _after(world, before) == Counter()
    assert world.balance("V-200", "DAL").reserved == 0

    world.run(lambda s: confirm_order(s, sam, order_number=number))
    assert _after(world, before) == Counter({"sales_order.confirmed": 1})
    [event] = _events(world, "sales_order.confirmed")
    assert (event.document_type, event.document_number, event.position) == ("sales_order", number, None)
    assert event.payload["customer"] == "ACME" and event.payload["units"] == 5
    assert event.payload["total"] == "90.00"  # 5 x 18.00, exact decimal text


def test_each_business_action_emits_its_event_exactly_once(world: World) -> None:
    before = _types(world)
    wes, fin, bea = (world.actor(u) for u in ("wes", "fin", "bea"))
    order = world.place_order("ACME", LineRequest("V-200", 10, "DAL"), confirm=True)
    world.run(lambda s: ship_order(s, wes, order_number=order))
    world.run(lambda s: record_payment(s, fin, customer="ACME", amount=Decimal("50"), bank_reference="BNK-7").number)
    transfer = world.run(
        lambda s: (
            create_transfer(
                s, wes, from_warehouse="DAL", to_warehouse="ATL", lines=[TransferLineRequest("V-220", 4)]
            ).number
        )
    )
    world.run(lambda s: ship_transfer(s, wes, transfer_number=transfer))
    world.run(lambda s: receive_transfer(s, wes, transfer_number=transfer))
    po = world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="ATL", lines=[PurchaseLineRequest("V-200", 20)]
            ).number
        )
    )
    world.run(lambda s: receive_purchase_order(s, wes, po_number=po))
    assert _after(world, before) == Counter(
        {
            "sales_order.confirmed": 1,
            "sales_order.shipped": 1,
            "sales_order.invoiced": 1,
            "payment.applied": 1,
            "transfer.shipped": 1,
            "transfer.received": 1,
            "purchase_order.received": 1,
        }
    )
    [invoiced] = _events(world, "sales_order.invoiced")
    assert invoiced.document_number == order and invoiced.payload["amount"] == "180.00"
    [paid] = _events(world, "payment.applied")
    assert paid.payload["applied"] == "50.00" and paid.payload["invoices"][0]["invoice"] == invoiced.payload["invoice"]
    [received] = _events(world, "purchase_order.received")
    assert received.payload["received"] == [{"sku": "V-200", "quantity": 20}]
    assert _events(world, "transfer.shipped")[0].payload["lines"] == [{"sku": "V-220", "quantity": 4}]


def _draft(world: World, user: str, customer: str, sku: str, quantity: int, call: str) -> str:
    ctx = RequestContext(world.actor(user), channel="assistant", conversation_id="c", tool_call_id=call)
    payload = {"customer": customer, "lines": [{"sku": sku, "quantity": quantity, "warehouse": "DAL"}]}
    return world.run(lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=payload).number)


def test_drafts_decided_by_the_policy_or_by_approvers_emit_their_decision_once(world: World) -> None:
    before = _types(world)
    _draft(world, "sam", "ACME", "V-200", 1, "c1")  # small: the policy executes it (its preview emits nothing)
    assert _after(world, before) == Counter({"draft.executed": 1, "sales_order.confirmed": 1})

    before = _types(world)
    _draft(world, "sam", "HOLDCO", "V-200", 1, "c2")  # a customer on hold: blocked
    assert _after(world, before) == Counter({"draft.blocked": 1})

    before = _types(world)
    big = _draft(world, "sam", "ACME", "X-900", 1, "c3")  # 6,000 USD: waits for a manager
    assert _after(world, before) == Counter()
    world.run(lambda s: approve(s, Person(world.actor("gus"), channel="web"), draft_number=big))
    assert _after(world, before) == Counter({"draft.executed": 1, "sales_order.confirmed": 1})

    before = _types(world)
    other = _draft(world, "sam", "ACME", "X-900", 1, "c4")
    world.run(lambda s: reject(s, Person(world.actor("gus"), channel="web"), draft_number=other, comment="no"))
    assert _after(world, before) == Counter({"draft.rejected": 1})
    [rejected] = _events(world, "draft.rejected")
    assert rejected.document_number == other and rejected.payload["status"] == "rejected"


def test_exceptions_opened_and_resolved_emit_their_events(world: World) -> None:
    before = _types(world)
    na = world.read(lambda s: get_entity(s, code="NA").id)

    def open_case(s: Session) -> str:
        case, _ = raise_case(
            s,
            type=ExceptionType.SHORTAGE,
            entity_id=na,
            dedup_key="test:outbox",
            severity="high",
            title="V-200 short at DAL",
            detail="",
            related={},
        )
        return case.number

    number = world.run(open_case)
    world.run(open_case)  # raised once, ever: no second event
    gus = world.actor("gus")
    world.run(lambda s: resolve_case(s, gus, case_number=number, resolution="stock arrived"))
    assert _after(world, before) == Counter({"exception.opened": 1, "exception.resolved": 1})
    resolved = _events(world, "exception.resolved")[-1]
    assert resolved.document_number == number and resolved.payload["resolution"] == "stock arrived"


def test_the_sequencer_numbers_committed_events_in_id_order_and_consumers_take_each_once(world: World) -> None:
    world.place_order("ACME", LineRequest("V-200", 1, "DAL"), confirm=True)
    world.place_order("BRIT", LineRequest("F-300", 1, "BHM"), user="uma", confirm=True)
    world.run(sequence_events)
    events = world.read(lambda s: list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))))
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert world.run(sequence_events) == 0

    taken: list[int] = []
    world.run(lambda s: consume(s, "test", lambda _, batch: taken.extend(e.id for e in batch), batch=1))
    world.run(lambda s: consume(s, "test", lambda _, batch: taken.extend(e.id for e in batch)))
    world.run(lambda s: consume(s, "test", lambda _, batch: taken.extend(e.id for e in batch)))
    assert taken == [e.id for e in events]


def test_polling_shows_each_caller_only_their_entities_with_a_cursor(world: World) -> None:
    na_order = world.place_order("ACME", LineRequest("V-200", 1, "DAL"), confirm=True)
    uk_order = world.place_order("BRIT", LineRequest("F-300", 1, "BHM"), user="uma", confirm=True)
    world.run(
        lambda s: publish(
            s, type="exception.opened", document_type="exception", document_number="EX-0", entity_id=None, payload={}
        )
    )
    world.run(sequence_events)

    def numbers(user: str, after: int = 0, limit: int = 100) -> tuple[list[str], int]:
        actor = world.actor(user)
        page = world.read(lambda s: events_after(s, actor, after=after, limit=limit))
        return [e.document_number for e in page.events], page.next

    assert numbers("sam")[0] == [na_order]
    assert numbers("uma")[0] == [uk_order]
    assert numbers("root")[0] == [na_order, uk_order, "EX-0"]  # no entity: admins only
    first, cursor = numbers("root", limit=1)
    assert first == [na_order]
    assert numbers("root", after=cursor)[0] == [uk_order, "EX-0"]
    last = numbers("root")[1]
    assert numbers("root", after=last) == ([], last)


def test_a_body_is_the_event_as_recorded(world: World) -> None:
    world.place_order("ACME", LineRequest("V-200", 1, "DAL"), confirm=True)
    world.run(sequence_events)
    [event] = _events(world, "sales_order.confirmed")
    assert event_body(event) == event_body(world.read(lambda s: s.get_one(OutboxEvent, event.id)))
    assert b'"type":"sales_order.confirmed"' in event_body(event)


def test_positions_follow_commit_order_so_a_cursor_never_skips_a_late_commit(pg_world: World) -> None:
    """The hazard: an event whose id was taken first but committed last. Numbered by id, a consumer that had read
    past the later id would skip it for good; numbered at sequencing, after commit, it comes after the cursor."""
    db = pg_world.db
    with db.session(write=True) as slow, db.session(write=True) as fast:
        early = publish(
            slow, type="exception.opened", document_type="exception", document_number="EX-A", entity_id=None, payload={}
        )
        slow.flush()  # takes the lower id, not committed yet
        late = publish(
            fast, type="exception.opened", document_type="exception", document_number="EX-B", entity_id=None, payload={}
        )
        fast.flush()
        assert early.id < late.id
        fast.commit()
        db.run(sequence_events)  # sees only EX-B
        root = pg_world.actor("root")
        page = db.read(lambda s: events_after(s, root, after=0))
        assert [e.document_number for e in page.events][-1:] == ["EX-B"]
        cursor = page.next
        slow.commit()
    db.run(sequence_events)
    later = db.read(lambda s: events_after(s, root, after=cursor))
    assert [e.document_number for e in later.events] == ["EX-A"]
    rows = db.read(lambda s: s.execute(select(OutboxEvent.document_number, OutboxEvent.position)).all())
    positions = {number: position or 0 for number, position in rows}
    assert 0 < positions["EX-B"] < positions["EX-A"]
    assert db.read(lambda s: s.scalar(select(func.count()).where(OutboxEvent.position.is_(None)))) == 0
