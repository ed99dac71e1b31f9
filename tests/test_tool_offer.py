"""Per-request tools and examples for the local model (ERP_LOCAL_TOOL_SUBSET): what code offers, and what stays."""

from pathlib import Path

import pytest

from assistant.agent import Assistant
from assistant.conversations import open_checkpointer
from assistant.llm.local.call import examples_per_request
from assistant.llm.local.choice import offered
from assistant.llm.local.grammar import REPLY
from assistant.llm.local.prompt import CHATML_TOOLS_TEMPLATE, OUTPUT_EXAMPLES, ChatTemplate, closest, conversation
from assistant.llm.settings import ModelSettings
from assistant.tool_offer import FALLBACK, for_roles, offered_tools
from core import clock
from core.actor import Role
from core.masterdata.mentions import Linked, link_mentions
from core.settings import override_settings
from tests.world import USERS, World
from tools import ToolContext, default_registry

REGISTRY = default_registry()
EVERY_ROLE = set(Role)


def _offer(text: str, roles: set[Role] | None = None, linked: Linked | None = None, limit: int = 5) -> list[str]:
    return offered_tools(REGISTRY, EVERY_ROLE if roles is None else roles, text, linked, limit)


def _linked(world: World, text: str, user: str = "sam") -> Linked:
    actor = world.actor(user)
    return world.read(lambda s: link_mentions(s, actor, text, clock.today()))


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        ("how much P-10 is left in Manchester?", {"check_availability"}),
        ("any gate valves in the catalogue?", {"find_items"}),
        ("has the Brazos order shipped yet", {"get_order_status"}),
        ("is Brazos over their credit limit?", {"get_customer_credit"}),
        ("which problems need my attention today", {"list_exceptions"}),
        ("how did our fill rate look last month", {"get_kpis"}),
        ("what's the rule for discounts above 15%?", {"search_policies"}),
        ("anything waiting for my approval?", {"list_pending_approvals"}),
        ("ship 30 P-10 from Reno over to Dallas", {"draft_transfer"}),
        ("please lift the credit hold on Brazos, they paid", {"request_credit_hold_release"}),
        ("put BRAZOSHV on credit hold, 3 invoices unpaid", {"request_credit_hold_release"}),
        ("raise ACME's credit limit to 30,000", {"draft_master_data_change"}),
        ("set the cost of V-200 to 44.10", {"draft_master_data_change"}),
        ("KEYSTONE's lead time is 15 days now", {"draft_master_data_change"}),
        ("put the V-220 on line 1 of SO-1042 instead, as a substitute", {"draft_order_action"}),
        ("expedite SO-1042 overnight with FedEx, 120 dollars of freight", {"draft_order_action"}),
        ("return 3 V-200 from SO-1042, damaged", {"draft_return"}),
        ("the goods of RMA-7 came back, restock them", {"draft_return", "get_return"}),
        ("where does RMA-7 stand?", {"get_return"}),
        (
            "check stock of P-10 at Reno and if there's enough move 5 to Dallas",
            {"check_availability", "draft_transfer"},
        ),
    ],
)
def test_the_tools_a_request_needs_are_offered_from_its_words(text: str, needed: set[str]) -> None:
    chosen = _offer(text)
    assert needed <= set(chosen)
    assert len(chosen) <= 5


def test_what_the_message_names_points_at_the_tools_for_it(sqlite_world: World) -> None:
    text = "what about SO-1001?"  # no word asks for anything: the order number does
    assert "get_order_status" not in _offer(text)
    assert "get_order_status" in _offer(text, linked=_linked(sqlite_world, text))
    named = "and ACME?"
    assert "get_customer_credit" in _offer(named, linked=_linked(sqlite_world, named))


def test_naming_a_customer_alone_offers_no_draft_but_a_change_for_them_does(sqlite_world: World) -> None:
    question = "tell me about ACME"
    assert not [t for t in _offer(question, linked=_linked(sqlite_world, question)) if t.startswith("draft_")]
    change = "order 5 V-200 for ACME"
    assert "draft_sales_order" in _offer(change, linked=_linked(sqlite_world, change))


def test_a_tool_the_users_roles_may_not_run_is_never_offered() -> None:
    texts = [
        "raise a PO to KEYSTONE for 50 P-10 into Reno",
        "order 5 V-200 for ACME",
        "move 10 V-200 from DAL to ATL",
        "change SO-1001 line 1 to 20 units",
        "buy, sell, transfer and reorder everything",
    ]
    for role in Role:
        for text in texts:
            for name in _offer(text, {role}):
                assert REGISTRY.tools[name].usable_by({role}), (role, text, name)
    assert "draft_purchase_order" not in _offer(texts[0], {Role.SALES})
    assert "draft_purchase_order" in _offer(texts[0], {Role.BUYER})
    assert "draft_sales_order" not in _offer(texts[1], {Role.WAREHOUSE})


def test_at_most_the_limit_and_never_nothing() -> None:
    busy = "check stock, order status, credit limit, open exceptions, KPIs and the discount policy"
    assert len(_offer(busy, limit=3)) == 3
    assert _offer("hello there", limit=3) == [t for t in REGISTRY.tools if t in FALLBACK]


def test_the_answer_in_words_stays_on_offer_with_a_subset() -> None:
    schemas = [s for s in REGISTRY.schemas() if s["function"]["name"] in _offer("hello there")]
    messages = [{"role": "system", "content": "You help."}, {"role": "user", "content": "hello there"}]
    assert offered(messages, schemas, "auto")[1] is True
    shown, _ = conversation(messages, schemas, examples=2)
    prompt = ChatTemplate(CHATML_TOOLS_TEMPLATE).render(shown, schemas, add_generation_prompt=True)
    assert f'"name": "{REPLY}"' in prompt
    assert '"name": "draft_transfer"' not in prompt


def test_the_closest_examples_are_retrieved_k_of_them() -> None:
    picked = closest(OUTPUT_EXAMPLES, "move 12 P-10 from Reno to Manchester", 3)
    assert len(picked) == 3
    assert "draft_transfer" in [tool for _, tool, _ in picked]
    assert closest(OUTPUT_EXAMPLES, "anything", 0) == []
    assert len(closest(OUTPUT_EXAMPLES, "anything", 99)) == len(OUTPUT_EXAMPLES)


def test_a_subset_shows_k_examples_after_the_output_note() -> None:
    schemas = REGISTRY.schemas()
    messages = [{"role": "system", "content": "You help."}, {"role": "user", "content": "Where is SO-77?"}]
    every, _ = conversation(messages, schemas)
    some, _ = conversation(messages, schemas, examples=2)
    assert sum('" -> {"name":' in line for line in some[1]["content"].splitlines()) == 2
    assert '"Where is SO-1001?"' in some[1]["content"]
    assert sum('" -> {"name":' in line for line in every[1]["content"].splitlines()) == len(OUTPUT_EXAMPLES)


@pytest.mark.parametrize(
    ("user", "text", "added"),
    [
        (
            "sam",
            "how many V-200 can Atlanta promise? also raise a PO to KEYSTONE for 100 into Atlanta",
            "draft_purchase_order",
        ),
        ("wes", "raise a PO to KEYSTONE for 100 V-200 into Dallas", "draft_purchase_order"),
        ("bea", "record a payment of 1,200 from ACME, bank ref 7781", "draft_payment"),
        ("sam", "how many V-200 can Atlanta promise?", None),
        ("sam", "draft an order for ACME for 4 V-210", None),
    ],
)
def test_a_draft_the_words_ask_for_that_the_roles_may_not_make_is_offered_last_for_the_cores_refusal(
    sqlite_world: World, tmp_path: Path, user: str, text: str, added: str | None
) -> None:
    """Hidden, the 1.5B model drafts what it has instead (a sales order for a PO); offered, the core refuses it and
    says who may. Offered last, so the prefix of the user's own tools is the same as for any other request."""
    actor = sqlite_world.actor(user)
    names = for_roles(REGISTRY, actor.roles, _linked(sqlite_world, text, user))
    usable = [n for n, tool in REGISTRY.tools.items() if tool.usable_by(actor.roles)]
    assert names[: len(usable)] == usable
    barred = names[len(usable) :]
    assert (added in barred) if added else not barred
    assert not any(REGISTRY.tools[name].usable_by(actor.roles) for name in barred)


def test_with_the_option_off_every_request_shares_one_prefix_with_every_example() -> None:
    assert examples_per_request() is None
    schemas = REGISTRY.schemas()
    system = {"role": "system", "content": "You help."}
    first, shared = conversation([system, {"role": "user", "content": "Where is SO-77?"}], schemas)
    second, _ = conversation([system, {"role": "user", "content": "move 5 P-10 to Reno"}], schemas)
    assert first[:shared] == second[:shared]
    assert all(f'"{request}" -> ' in first[1]["content"] for request, _, _ in OUTPUT_EXAMPLES)
    with override_settings(local_tool_subset=4):
        assert examples_per_request() == 4


def test_the_agent_offers_the_tools_of_the_users_roles_unless_the_option_is_set(
    sqlite_world: World, tmp_path: Path
) -> None:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "c.db")
    sam, mia = sqlite_world.actor("sam"), sqlite_world.actor("mia")
    text = "check stock of V-200 and ACME's credit"
    linked = _linked(sqlite_world, text)
    off = Assistant(sqlite_world.db, checkpointer, settings=ModelSettings(model="local/x"))
    names = [s["function"]["name"] for s in off._offered(sam, text, linked)]
    assert names == [n for n, tool in REGISTRY.tools.items() if tool.usable_by(sam.roles)]
    assert "draft_purchase_order" not in names and "draft_sales_order" in names
    assert off._offered(mia, text, _linked(sqlite_world, text, "mia")) == off.schemas  # a manager: every tool
    hosted = Assistant(sqlite_world.db, checkpointer, settings=ModelSettings(model="openai/x", tool_subset=3))
    assert hosted._offered(sam, text, linked) == off._offered(sam, text, linked)
    text = "raise a PO and check stock of V-200"
    linked = _linked(sqlite_world, text)
    on = Assistant(sqlite_world.db, checkpointer, settings=ModelSettings(model="local/x", tool_subset=3))
    names = [s["function"]["name"] for s in on._offered(sam, text, linked)]
    assert "check_availability" in names and "draft_purchase_order" not in names and len(names) <= 3


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("draft_sales_order", {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1}]}),
        (
            "draft_transfer",
            {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 1}]},
        ),
        (
            "draft_purchase_order",
            {"supplier": "VALVECO", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 1}]},
        ),
    ],
)
def test_a_tools_declared_permission_is_the_one_its_core_command_refuses_without(
    sqlite_world: World, tool: str, arguments: dict[str, object]
) -> None:
    """The router hides a tool by `Tool.needs`; the core decides by its own check: the two must agree."""
    for user in USERS:
        actor = sqlite_world.actor(user)
        ctx = ToolContext(actor, channel="web", conversation_id="c1", tool_call_id=f"{tool}-{user}")
        outcome = REGISTRY.call(sqlite_world.db, ctx, tool, arguments)
        refused = outcome.error is not None and outcome.error.code == "permission_denied"
        assert refused == (not REGISTRY.tools[tool].usable_by(actor.roles)), (tool, user, outcome.data)
