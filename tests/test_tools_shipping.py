"""The fulfilment tools through the registry, as the agent calls them: a shipment drafted, confirmed by its
requester, then read back with its tracking and milestone; refusals typed."""

from sqlalchemy.orm import Session

from core.actor import Person
from core.drafts.service import confirm
from core.sales.service import LineRequest
from core.stock.reconciliation import stock_disagreements
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry
from tools.drafts import draft_result

REGISTRY = default_registry()


def _call(world: World, user: str, tool: str, args: dict[str, object], call_id: str = "t1") -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id=call_id)
    return REGISTRY.call(world.db, ctx, tool, args)


def test_a_drafted_shipment_ships_once_confirmed_and_fulfilment_tells_where_it_is(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 40, warehouse="ATL"), confirm=True, backorder=True)
    args = {"order_number": number, "warehouse": "DAL", "lines": [{"line_no": 1, "quantity": 28}], "carrier": "UPS"}
    drafted = _call(world, "wes", "draft_shipment", {**args, "tracking_number": "1Z999AA10123456784"})
    assert drafted.draft is not None and drafted.data["status"] == "unconfirmed", drafted.data
    assert world.balance("V-200", "DAL").on_hand == 100  # a preview changes nothing

    def confirm_it(s: Session) -> str:
        draft = confirm(
            s, Person(world.actor("wes"), "web"), draft_number=str(drafted.draft.draft if drafted.draft else "")
        )
        return str(draft_result(s, draft).result)

    shipment = world.run(confirm_it)
    status = _call(world, "sam", "get_fulfilment", {"order_number": number}).data
    assert (status["status"], status["open_units"], status["backordered_units"]) == ("partially_shipped", 12, 0)
    assert status["lines"][0] == {
        "line": 1, "sku": "V-200", "warehouse": "ATL", "quantity": 40, "shipped": 28, "reserved": 12, "backordered": 0
    }  # fmt: skip
    (shipped,) = status["shipments"]
    assert (shipped["shipment"], shipped["warehouse"], shipped["tracking_number"]) == (
        shipment,
        "DAL",
        "1Z999AA10123456784",
    )
    assert f"{number} left to ship: 12 units, 0 backordered." in status["facts"]
    assert f"{shipment} from DAL via UPS, tracking 1Z999AA10123456784: 28 x V-200 (line 1)." in status["facts"]
    assert any(f.startswith(f"{shipment} latest milestone: shipped ") for f in status["facts"])
    assert world.read(stock_disagreements) == []


def test_sales_are_refused_a_shipment_and_another_entitys_order_is_out_of_scope(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 5, warehouse="DAL"), confirm=True)
    refused = _call(world, "sam", "draft_shipment", {"order_number": number})
    assert refused.error is not None and refused.error.code == "permission_denied"
    uk = world.place_order("BRIT", LineRequest("F-300", 5), user="uma", confirm=True)
    hidden = _call(world, "sam", "get_fulfilment", {"order_number": uk})
    assert hidden.error is not None and hidden.error.code == "out_of_scope"
    over = _call(world, "wes", "draft_shipment", {"order_number": number, "lines": [{"line_no": 1, "quantity": 6}]})
    assert over.error is not None and over.error.code == "invalid_input" and "only 5 reserved" in over.error.message
