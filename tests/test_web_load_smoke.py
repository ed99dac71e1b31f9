"""The web load benchmark on a tiny load: a real server in a subprocess, every turn answered, no errors.

No timing targets here (timings depend on the machine); only that the benchmark measures real work.
"""

import json
from pathlib import Path

import pytest

from evals.bench.web_load import main
from evals.bench.web_load.figures import plans
from evals.common.scripted_load import TRANSFER, TRANSFER_TEXT, answer_to, call_for


def test_the_bench_script_answers_from_the_messages_alone() -> None:
    asked = call_for("How many V-200 can we promise from BHM?")
    assert [(c.name, c.arguments) for c in asked.calls] == [
        ("check_availability", {"sku": "V-200", "warehouse": "BHM"})
    ]
    assert [(c.name, c.arguments) for c in call_for(TRANSFER_TEXT).calls] == [("draft_transfer", TRANSFER)]
    stock = '{"sku":"V-200","total_available":12,"warehouses":[{"warehouse":"ATL","available_now":12}]}'
    assert answer_to(stock).text == "**V-200**: 12 at ATL now."
    draft = json.dumps(  # a draft tool's result, as the model is shown it
        {
            "draft": "DR-4",
            "status": "pending_approval",
            "summary": "Transfer 5 V-200 from DAL to ATL",
            "changes": [],
            "decision": "Needs approval",
            "waiting_for": ["manager of NA"],
        }
    )
    assert answer_to(draft).text == "Drafted DR-4 (pending_approval); it waits for manager of NA."
    preview = json.dumps(  # what a draft tool returns now: a preview its requester confirms on the card
        {
            "draft": "DR-5",
            "status": "unconfirmed",
            "summary": "Transfer 5 V-200 from DAL to ATL",
            "changes": [],
            "decision": "If confirmed: needs approval by manager of NA.",
        }
    )
    assert answer_to(preview).text == (
        "Drafted DR-5 (unconfirmed): confirm it on the card. If confirmed: needs approval by manager of NA."
    )


def test_users_share_the_staff_accounts_and_na_users_draft_one_transfer_each() -> None:
    made = plans(7, 3)
    assert [p.account for p in made] == ["sam", "wes", "uma", "wyn", "siti", "wei", "sam"]
    assert [[kind for kind, _ in p.messages] for p in made[:3]] == [
        ["stock", "transfer", "stock"],
        ["stock", "transfer", "stock"],
        ["stock", "stock", "stock"],
    ]


@pytest.mark.slow
def test_a_tiny_load_answers_every_turn_and_approves_every_confirmed_transfer(tmp_path: Path) -> None:
    argv = ["--users", "3", "--turns", "1", "--workers", "1", "--backend", "sqlite", "--out", str(tmp_path)]
    assert main(argv) == 0
    report = json.loads((tmp_path / "web_load-latest.json").read_text())
    [config] = report["configs"]
    assert config["errors"] == 0, config["error_kinds"]
    assert config["turns_sent"] == config["turns_answered"] == config["answer"]["count"] == 3
    assert config["transfers_drafted"] == 2  # sam and wes (NA) draft; uma (UK) asks about stock
    assert config["confirmations"] == 2 and config["confirm"]["count"] == 2  # each through POST .../confirm
    assert config["draft_outcomes"] == {"executed": 2} and config["approvals"] == 2
    assert config["first_event"]["p50_ms"] <= config["answer"]["p50_ms"]
    assert "| 1 worker, sqlite | 3 | 3/3 |" in (tmp_path / "web_load-latest.md").read_text()
