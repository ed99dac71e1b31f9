"""Entity linking: what a message names, resolved in the user's own scope, on SQLite and PostgreSQL."""

from datetime import date

import pytest
from sqlalchemy.orm import Session

from core.db import Database
from core.demo.directory import ACME_CODE
from core.masterdata.mentions import Linked, MentionKind, direction_written, link_mentions, sizes_in
from core.masterdata.models import Customer
from core.masterdata.phrases import find_dates, find_quantities, number_of
from core.masterdata.service import load_actor
from core.sales.service import LineRequest
from tests.world import World

FRIDAY = date(2026, 11, 20)


def _link(world: World, username: str, text: str, today: date = FRIDAY) -> Linked:
    actor = world.actor(username)
    return world.read(lambda s: link_mentions(s, actor, text, today))


def _pairs(linked: Linked) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(m.text, m.kind.value, m.ids or m.candidates) for m in linked.mentions]


def test_a_transfer_request_links_its_item_warehouses_and_count(world: World) -> None:
    linked = _link(world, "sam", "transfer 40 V-200 from Dallas to ATL by Friday")
    assert _pairs(linked) == [
        ("40", "quantity", ()),
        ("V-200", "item", ("V-200",)),
        ("Dallas", "warehouse", ("DAL",)),
        ("ATL", "warehouse", ("ATL",)),
        ("Friday", "date", ("2026-11-27",)),
    ]
    assert linked.quantities_of("V-200") == [40]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("order 5 x V-200 for ACME", 5),
        ("order 5x V-200 for ACME", 5),
        ("40 pcs V-200", 40),
        ("40 units of V-200", 40),
        ("V-200 x 12", 12),
        ("forty V-200", 40),
        ("a dozen V-200", 12),
        ("1,200 V-200", 1200),
    ],
)
def test_a_count_is_tied_to_the_item_it_counts(world: World, text: str, count: int) -> None:
    assert _link(world, "sam", text).quantities_of("V-200") == [count]


@pytest.mark.parametrize("written", ["v200", "V 200", "v-200", "V-200"])
def test_a_sku_is_found_however_it_is_typed(world: World, written: str) -> None:
    linked = _link(world, "sam", f"how many {written} in Atlanta?")
    assert [m.ids for m in linked.of(MentionKind.ITEM)] == [("V-200",)]


def test_words_that_only_look_like_skus_are_not_items_and_unknown_skus_are_not_found(world: World) -> None:
    linked = _link(world, "sam", "can we do it for 40 of Z-999")
    assert [(m.text, m.ids) for m in linked.of(MentionKind.ITEM)] == [("Z-999", ())]
    assert [m.number for m in linked.of(MentionKind.QUANTITY)] == [40]


def test_customers_by_code_and_name_and_documents_in_scope(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 2, "DAL"))
    linked = _link(world, "sam", f"where is {order} for Acme Industrial Supply? also bolt")
    assert _pairs(linked) == [
        (order, "document", (order,)),
        ("Acme Industrial Supply", "customer", ("ACME",)),
        ("bolt", "customer", ("BOLT",)),
    ]


def test_a_count_after_a_documents_word_is_a_count_where_no_such_document_is(world: World) -> None:
    linked = _link(world, "bea", "1/2in brass ball valve - PO 50 from keystone into DAL")
    assert not linked.of(MentionKind.DOCUMENT) and [m.number for m in linked.of(MentionKind.QUANTITY)] == [50]
    order = world.place_order("ACME", LineRequest("V-200", 2, "DAL"))
    spaced = order.replace("-", " ")  # "SO 1": that order, even before "from"
    assert [m.ids for m in _link(world, "sam", f"{spaced} from ACME, where is it?").of(MentionKind.DOCUMENT)] == [
        (order,)
    ]


def test_nothing_of_another_entity_is_resolved_or_revealed(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 2, "DAL"))
    linked = _link(world, "uma", f"status of {order} for ACME, stock in Dallas, customer Brit Pipes")
    documents = linked.of(MentionKind.DOCUMENT)
    assert [(m.text, m.ids) for m in documents] == [(order, ())]  # found, but not resolved: not hers
    assert linked.of(MentionKind.CUSTOMER) == [m for m in linked.mentions if m.ids == ("BRIT",)]
    assert not linked.of(MentionKind.WAREHOUSE)  # Dallas is NA's
    assert "ACME" not in linked.supported_keys() and "DAL" not in linked.supported_keys()


def test_a_name_two_customers_share_is_ambiguous_with_both_as_candidates(world: World) -> None:
    def add(session: Session) -> None:
        acme = session.query(Customer).filter_by(code="ACME").one()
        session.add(Customer(code="ACMEW", name="Acme Welding", entity_id=acme.entity_id, tier="B", credit_limit=1000))

    world.run(add)
    ambiguous = _link(world, "sam", "order 3 V-200 for Acme").of(MentionKind.CUSTOMER)
    assert [(m.candidates, m.ids) for m in ambiguous] == [(("ACME", "ACMEW"), ())]
    assert ambiguous[0].labels == ("Acme Industrial Supply", "Acme Welding")
    exact = _link(world, "sam", "order 3 V-200 for Acme Welding").of(MentionKind.CUSTOMER)
    assert [m.ids for m in exact] == [("ACMEW",)]


def test_an_item_described_in_words_is_resolved_or_ambiguous(world: World) -> None:
    pump = _link(world, "sam", "do we have the centrifugal pump in Dallas?").of(MentionKind.ITEM)
    assert [m.ids for m in pump] == [("P-100",)]
    valve = _link(world, "sam", "how many brass valves in Atlanta?").of(MentionKind.ITEM)
    assert [(m.candidates, m.ids) for m in valve] == [(("V-200", "V-220"), ())]


def test_entities_and_plain_word_codes(world: World) -> None:
    linked = _link(world, "mia", "stock of V-200 across NA and the man in Birmingham")
    assert [(m.text, m.ids) for m in linked.of(MentionKind.ENTITY)] == [("NA", ("NA",))]
    assert [(m.text, m.ids) for m in linked.of(MentionKind.WAREHOUSE)] == [("Birmingham", ("BHM",))]


@pytest.mark.parametrize(
    ("phrase", "first", "last"),
    [
        ("today", "2026-11-20", "2026-11-20"),
        ("tomorrow", "2026-11-21", "2026-11-21"),
        ("Friday", "2026-11-27", "2026-11-27"),
        ("Tuesday", "2026-11-24", "2026-11-24"),
        ("next week", "2026-11-23", "2026-11-29"),
        ("end of the month", "2026-11-30", "2026-11-30"),
        ("Dec 5", "2026-12-05", "2026-12-05"),
        ("5th of December", "2026-12-05", "2026-12-05"),
        ("Jan 10", "2027-01-10", "2027-01-10"),
        ("Sept. 3", "2026-09-03", "2026-09-03"),
        ("2026-12-01", "2026-12-01", "2026-12-01"),
        ("in 2 weeks", "2026-12-04", "2026-12-04"),
        ("last month", "2026-10-01", "2026-10-31"),
        ("last week", "2026-11-09", "2026-11-15"),
        ("the last 30 days", "2026-10-21", "2026-11-20"),
    ],
)
def test_dates_are_read_relative_to_today(phrase: str, first: str, last: str) -> None:
    found = find_dates(f"can we ship {phrase} please", FRIDAY)
    assert [(f.first.isoformat() if f.first else "", f.last.isoformat() if f.last else "") for f in found] == [
        (first, last)
    ]


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("a 3/4 inch brass valve", []),
        ("20 kW chiller", []),
        ("change line 2 to 30", [30]),
        ("the one in Dallas", []),
        ("make it thirty-five", [35]),
        ("2 dozen", [24]),
        ("a 10 ft hose", []),
        ("draft 10 FT-200 for PEAKPIPE", [10]),  # a SKU's letters after the count are no size (feet)
        ("send two and a half V-200 to Atlanta", []),  # no whole count: the model's 2 is nobody's
        ("2 1/2 V-200", []),
        ("2\u00bd V-200", []),
        ("3 V-200 and a half-day delay", [3]),
    ],
)
def test_sizes_line_numbers_and_articles_are_no_counts(text: str, counts: list[int]) -> None:
    assert [f.number for f in find_quantities(text) if not f.weak] == counts


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("order fifty 3/4in brass ball valves from Keystone", 50),
        ("order 50 3/4in brass ball valves", 50),
        ("Can Singapore cover five 1/2in brass ball valves?", 5),  # the count was asked for again
    ],
)
def test_a_count_before_a_size_is_a_count_unless_it_is_the_sizes_whole_part(text: str, count: int) -> None:
    """ "fifty 3/4in" was read as one size, fifty and three quarters, so the count went missing and was asked."""
    assert [f.number for f in find_quantities(text)] == [count]
    assert [f.number for f in find_quantities("a 1 1/2 inch valve and 2 1/2in pipe")] == [1]  # "a", weak


def test_one_is_a_count_only_before_an_item(world: World) -> None:
    assert _link(world, "sam", "one X-900 for ACME").quantities_of("X-900") == [1]
    assert _link(world, "sam", "the one in Dallas, a V-200").of(MentionKind.QUANTITY)[0].of_sku == "V-200"
    assert len(_link(world, "sam", "the one in Dallas").of(MentionKind.QUANTITY)) == 0


def test_number_words() -> None:
    assert [number_of(w) for w in ("forty", "forty-five", "two hundred", "a dozen", "1,200", "blue")] == [
        40,
        45,
        200,
        12,
        1200,
        None,
    ]


def test_the_demo_company_links_its_own_words(demo_db: Database) -> None:
    def link(session: Session) -> Linked:
        sam = load_actor(session, username="sam")
        return link_mentions(session, sam, f"transfer 30 V-200 from Reno to Atlanta for {ACME_CODE} next week", FRIDAY)

    linked = demo_db.read(link)
    assert [(m.kind.value, m.ids) for m in linked.mentions if m.kind != MentionKind.DATE] == [
        ("quantity", ()),
        ("item", ("V-200",)),
        ("warehouse", ("RNO",)),
        ("warehouse", ("ATL",)),
        ("customer", ("ACME",)),
    ]
    assert linked.quantities_of("V-200") == [30]


@pytest.mark.parametrize(
    ("text", "ids", "candidates"),
    [
        ("send forty 3/4in brass ball valves from Dallas", ("V-200",), ()),  # not the lead-free one: unsaid
        ("20 of the 3/4 inch brass ball valves", ("V-200",), ()),
        ("the lead-free brass ball valve 3/4in", ("V-220",), ()),
        ("1in brass valve DAL -> ATL", (), ("V-230", "V-130", "V-170")),  # "ball" unsaid of each: still asked
        ("look up the 1 inch bronze gate valve", ("V-300",), ()),  # a size in two words: not the 3/4in, 1-1/4in, 6in
        ('the 1-1/4" bronze gate valve in Atlanta', ("V-660",), ()),
        ("what's the SKU of the brass tee", (), ("FT-210", "FT-600", "FT-630")),  # no size: which of the three
        ("the 1/2 brass tee", ("FT-600",), ()),  # a bare fraction is inches, as the catalogue writes it
    ],
)
def test_of_items_a_description_ties_the_one_whose_every_name_word_was_written_is_meant(
    demo_db: Database, text: str, ids: tuple[str, ...], candidates: tuple[str, ...]
) -> None:
    linked = demo_db.read(lambda s: link_mentions(s, load_actor(s, username="sam"), text, FRIDAY))
    (item,) = linked.of(MentionKind.ITEM)
    assert (item.ids, item.candidates) == (ids, candidates)


@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        ("1 inch bronze gate valve", ["1in"]),
        ("the 1 1/4 inch one and a 3/4in", ["1-1/4in", "3/4in"]),
        ('a 1-1/2" pipe', ["1-1/2in"]),
        ("hex bolt M8 x 25 mm", ["25mm"]),
        ("20 of the 3/4 brass valves", ["3/4in"]),
        ("box of 100, 5 x V-200", []),
    ],
)
def test_sizes_are_read_in_the_form_item_names_write_them(text: str, sizes: list[str]) -> None:
    assert [form for _, _, form in sizes_in(text)] == sizes


@pytest.mark.parametrize(
    ("text", "ways"),
    [
        ("move 5 V-200 from Dallas to Atlanta", ["from", "to"]),
        ("5 V-200 into ATL, out of the Dallas DC", ["to", "from"]),
        ("order ex DAL", ["from"]),
        ("5 V-200 Dallas and Atlanta", [None, None]),
        ("stock at Dallas", [None]),
        ("v200 free at ATL? and transfer 10 DAL -> ATL", [None, "from", "to"]),
        ("10 V-200 DAL\u2192ATL", ["from", "to"]),
        ("transfer 10 v200 DAL->ATL + 5 v220 ATL->DAL", ["from", "to", "from", "to"]),  # no space before the arrow
        ("10 V-200 DAL=>ATL", ["from", "to"]),
        ("tranfer 600 pcs a160 DAL to ATL", ["from", "to"]),  # "to" from one warehouse to another
        ("stock at Dallas to cover the order", [None]),
    ],
)
def test_the_words_before_a_place_tell_which_way_stock_goes(world: World, text: str, ways: list[str | None]) -> None:
    linked = _link(world, "sam", text)
    assert [direction_written(linked, m) for m in linked.of(MentionKind.WAREHOUSE)] == ways


@pytest.mark.parametrize("text", ["or maybe 12", "mark 5 as done", "decrease 5", "junk 3 of them", "marching 10"])
def test_words_that_begin_like_a_month_are_no_dates(text: str) -> None:
    assert find_dates(text, FRIDAY) == []


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("order 10 V-200 for zephyr from reno", ("ZEPH1",)),  # one lower-case name word, cued, ending its phrase
        ("order 10 V-200 for zephyr", ("ZEPH1",)),
        ("credit of customer zephyr?", ("ZEPH1",)),
        ("order 10 V-200 for zephyr valves", None),  # a word of another phrase: not taken alone
        ("order 10 V-200 zephyr from reno", None),  # no cue: it could be any word
    ],
)
def test_one_lower_case_name_word_is_a_party_only_where_the_words_around_it_say_so(
    world: World, text: str, ids: tuple[str, ...] | None
) -> None:
    def add(session: Session) -> None:
        acme = session.query(Customer).filter_by(code="ACME").one()
        session.add(Customer(code="ZEPH1", name="Zephyr Plumbing", entity_id=acme.entity_id, tier="B", credit_limit=1))

    world.run(add)
    customers = [m.ids for m in _link(world, "sam", text).of(MentionKind.CUSTOMER)]
    assert customers == ([ids] if ids else [])


@pytest.mark.parametrize(
    ("text", "cases"),
    [
        ("explain the proposed purchase order of case 15", ["case 15"]),
        ("case #3 please", ["case #3"]),
        ("in case 2 arrive damaged, what then?", []),  # "in case" is no case
        ("a case of 12 gloves", []),  # a carton
    ],
)
def test_a_case_written_by_its_number_is_a_case(world: World, text: str, cases: list[str]) -> None:
    linked = _link(world, "sam", text)
    documents = linked.of(MentionKind.DOCUMENT)
    assert [m.text for m in documents] == cases
    assert all(i.startswith("EX-") for m in documents for i in m.ids)
