"""What code makes of a correction, read by the real entity linker on the demo company: each phrasing of the
evaluation's corrections (evals/tasks/corrections.yaml) is redone with the corrected value, the uncertain ones stay
the model's. tests/test_agent_corrections.py has the turns through the Assistant and readings without a database."""

import json
from typing import Any

import pytest

from assistant.corrections import Correction, correction_of
from core import clock
from core.db import Database
from core.masterdata.mentions import link_mentions
from tests.world import World
from tools import default_registry

Messages = list[dict[str, Any]]
REGISTRY = default_registry()
CHANGE = {"order_number": "SO-2253", "line_no": 1, "quantity": 20}
GLOVES = {"from_warehouse": "RNO", "to_warehouse": "ATL", "lines": [{"sku": "S-100", "quantity": 20}]}
HVAC = {"customer": "BRAZOSHV", "lines": [{"sku": "V-210", "quantity": 10, "warehouse": "RNO"}]}
PO = {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 50}]}
FIRST: dict[str, tuple[str, dict[str, Any]]] = {
    "draft_order_change": ("Change SO-2253 line 1 to 20 units", CHANGE),
    "draft_transfer": ("Transfer 20 S-100 from Reno to Atlanta", GLOVES),
    "draft_sales_order": ("Order 10 V-210 from Reno for BRAZOSHV", HVAC),
    "draft_purchase_order": ("PO keystone 50 x v200 -> DAL", PO),
}


def _previewed(tool: str, arguments: dict[str, Any]) -> Messages:
    """A stored first turn whose one draft call left the unconfirmed preview DR-1."""
    call = {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": json.dumps(arguments)}}
    return [
        {"role": "user", "content": FIRST[tool][0]},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"draft": "DR-1", "status": "unconfirmed"})},
        {"role": "assistant", "content": "DR-1 is a preview."},
    ]


def _correction(db: Database, tool: str, said: str) -> Correction:
    """What code makes of `said` after the first turn of `tool`'s task, read by the linker as sam."""
    sam = World(db).actor("sam")
    linked = db.read(lambda s: link_mentions(s, sam, said, clock.today()))
    return correction_of(_previewed(tool, FIRST[tool][1]), linked, REGISTRY, lambda draft: True)


@pytest.mark.parametrize("said", ["No, 15", "sorry make it 15", "actually fifteen, not twenty"])
def test_an_order_changes_new_count_is_redone_by_code(sqlite_demo: Database, said: str) -> None:
    redo = _correction(sqlite_demo, "draft_order_change", said)
    assert redo == Correction(("DR-1",), "draft_order_change", {**CHANGE, "quantity": 15})


@pytest.mark.parametrize(
    "said",
    [
        "Wait, I meant V-210, not the gloves",
        "oops wrong sku, should be V-210",
        "no, not gloves: 20 of the 1/2in brass ball valves V-210",
        "V-210 instead of S-100",
    ],
)
def test_another_item_on_a_one_line_transfer_is_redone_by_code(sqlite_demo: Database, said: str) -> None:
    redo = _correction(sqlite_demo, "draft_transfer", said)
    assert redo == Correction(("DR-1",), "draft_transfer", {**GLOVES, "lines": [{"sku": "V-210", "quantity": 20}]})


@pytest.mark.parametrize(
    "said",
    ["Sorry, it's for BRAZOSPL", "wrong customer - BRAZOSPL", "my mistake, the customer is Brazos Plumbing Supply"],
)
def test_another_customer_is_redone_by_code(sqlite_demo: Database, said: str) -> None:
    redo = _correction(sqlite_demo, "draft_sales_order", said)
    assert redo == Correction(("DR-1",), "draft_sales_order", {**HVAC, "customer": "BRAZOSPL"})


@pytest.mark.parametrize("said", ["my bad, ATL not DAL", "sorry, into Atlanta", "Atlanta, not Dallas"])
def test_another_warehouse_written_against_the_one_it_replaces_is_redone_by_code(
    sqlite_demo: Database, said: str
) -> None:
    """The model redrafted "my bad, ATL not DAL" without the supplier and asked for one (shard 1, 2026-12-07)."""
    redo = _correction(sqlite_demo, "draft_purchase_order", said)
    assert redo == Correction(("DR-1",), "draft_purchase_order", {**PO, "warehouse": "ATL"})


@pytest.mark.parametrize(
    ("tool", "said"),
    [
        ("draft_purchase_order", "sorry, ATL not RNO"),  # the warehouse replaced is not the preview's DAL
        ("draft_transfer", "no, V-210 and V-200"),  # which of the two?
        ("draft_transfer", "wait, V-210 and S-100 both"),  # S-100 named, but not as the one replaced
        ("draft_order_change", "sorry, 15 not 12"),  # the count replaced is not the preview's 20
        ("draft_sales_order", "Sorry, it's for Brazos"),  # which Brazos?
    ],
)
def test_an_uncertain_correction_stays_the_models_and_still_restates_the_preview(
    sqlite_demo: Database, tool: str, said: str
) -> None:
    assert _correction(sqlite_demo, tool, said) == Correction(("DR-1",))
