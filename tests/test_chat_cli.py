"""`erp-assistant chat` end to end in the terminal: the scripted model behind the real command."""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from assistant.cli import app
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from core.db import Database
from core.drafts.models import DraftAction
from core.sales.models import SalesOrder


@pytest.fixture
def demo_file(sqlite_demo: Database) -> str:
    """The demo company in a SQLite file of this test's own."""
    return sqlite_demo.engine.url.render_as_string(hide_password=False)


def _chat(url: str, tmp_path: Path, *args: str, model: str, **env: str) -> Result:
    variables = {
        "ERP_DATABASE_URL": url,
        "ERP_DATA_DIR": str(tmp_path / "data"),
        "ERP_ASSISTANT_MODEL": model,
        "COLUMNS": "200",
        "CHROMA_HOST": "",
        **env,
    }
    return CliRunner().invoke(app, ["chat", *args], env=variables)


def _atl_answer(messages: list[dict[str, Any]]) -> Reply:
    result = json.loads(messages[-1]["content"])
    atl = next(w for w in result["warehouses"] if w["warehouse"] == "ATL")
    return Reply(text=f"{atl['available_now']} of {result['sku']} available at ATL.")


def test_one_question_shows_the_tool_call_the_answer_and_its_sources(demo_file: str, tmp_path: Path) -> None:
    script = Script([Reply(calls=(Call("check_availability", {"sku": "V-200", "warehouse": "ATL"}),)), _atl_answer])
    result = _chat(demo_file, tmp_path, "--user", "sam", "-m", "V-200 in Atlanta?", model=scripted_model(script))
    assert result.exit_code == 0, result.output
    assert "→ check_availability(sku=V-200, warehouse=ATL)" in result.output
    assert "available at ATL." in result.output and "sources: V-200" in result.output
    assert "2 model calls" in result.output and "not found in this turn" not in result.output


def test_a_made_up_number_is_flagged_under_the_answer(demo_file: str, tmp_path: Path) -> None:
    script = Script(
        [Reply(calls=(Call("check_availability", {"sku": "V-200", "warehouse": "ATL"}),)), Reply("987654 at ATL.")]
    )
    result = _chat(demo_file, tmp_path, "--user", "sam", "-m", "V-200 in Atlanta?", model=scripted_model(script))
    assert "not found in this turn's tool results: 987654" in result.output


def test_the_chat_says_how_to_get_a_model_when_the_local_one_is_missing(
    demo_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a model another test loaded in this process stays loaded
    monkeypatch.setattr("assistant.llm.local.model._engine", None)
    missing = str(tmp_path / "no-such-model.gguf")
    result = _chat(
        demo_file, tmp_path, "--user", "sam", "-m", "hi", model="local/qwen2.5-coder-1.5b", ERP_LOCAL_MODEL_PATH=missing
    )
    assert result.exit_code == 1
    said = result.output.replace("\n", "")  # the console may wrap inside the long temporary path
    assert "ERP_ASSISTANT_MODEL" in said and "no-such-model.gguf" in said


def test_an_unknown_user_cannot_chat(demo_file: str, tmp_path: Path) -> None:
    result = _chat(demo_file, tmp_path, "--user", "nobody", "-m", "hi", model=scripted_model(Script([])))
    assert result.exit_code == 1 and "unknown user 'nobody'" in result.output


def test_a_conversation_resumes_in_a_later_chat(demo_file: str, tmp_path: Path) -> None:
    first = _chat(
        demo_file, tmp_path, "--user", "sam", "-m", "remember teal", model=scripted_model(Script([Reply("ok")]))
    )
    conversation = first.output.split("--conversation ")[1].split()[0]
    script = Script([Reply("you said teal")])
    again = _chat(
        demo_file, tmp_path, "--user", "sam", "-c", conversation, "-m", "what did I say?", model=scripted_model(script)
    )
    assert again.exit_code == 0 and "you said teal" in again.output
    assert [m["content"] for m in script.seen[0][2:]] == ["remember teal", "ok", "what did I say?"]
    foreign = _chat(demo_file, tmp_path, "--user", "wes", "-c", conversation, "-m", "hi", model=scripted_model(script))
    assert "belongs to another user" in foreign.output


# --- confirm before write: the terminal, not the model, asks the requester -----------------------------------

ORDER = Call("draft_sales_order", {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 2}]})
TRANSFER = Call(
    "draft_transfer", {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 2}]}
)


def _drafts(db: Database) -> dict[str, tuple[str, str | None]]:
    """Every draft's number, status and the record it made."""
    return db.read(lambda s: {d.number: (d.status, d.result_ref) for d in s.scalars(select(DraftAction))})


def _orders(db: Database) -> int:
    return db.read(lambda s: s.query(SalesOrder).count())


def _interactive(url: str, tmp_path: Path, script: Script, typed: str) -> Result:
    variables = {
        "ERP_DATABASE_URL": url,
        "ERP_DATA_DIR": str(tmp_path / "data"),
        "ERP_ASSISTANT_MODEL": scripted_model(script),
        "COLUMNS": "200",
        "CHROMA_HOST": "",
    }
    return CliRunner().invoke(app, ["chat", "--user", "sam"], input=typed, env=variables)


def test_one_message_leaves_its_draft_unconfirmed_and_says_how_to_confirm_it(
    sqlite_demo: Database, demo_file: str, tmp_path: Path
) -> None:
    orders = _orders(sqlite_demo)
    script = Script([Reply(calls=(ORDER,))])
    result = _chat(demo_file, tmp_path, "--user", "sam", "-m", "2 V-200 for ACME", model=scripted_model(script))
    assert result.exit_code == 0, result.output
    [(number, (status, made))] = _drafts(sqlite_demo).items()
    assert status == "unconfirmed" and made is None and _orders(sqlite_demo) == orders
    assert f"{number} sales_order — unconfirmed" in result.output and "If confirmed: " in result.output
    assert f"erp-assistant drafts confirm {number} --user sam" in result.output
    assert "Confirm DR-" not in result.output  # one-shot mode never asks


def test_one_message_with_yes_confirms_the_drafts_it_made(
    sqlite_demo: Database, demo_file: str, tmp_path: Path
) -> None:
    orders = _orders(sqlite_demo)
    script = Script([Reply(calls=(ORDER,))])
    result = _chat(
        demo_file, tmp_path, "--user", "sam", "-m", "2 V-200 for ACME", "--yes", model=scripted_model(script)
    )
    assert result.exit_code == 0, result.output
    [(number, (status, made))] = _drafts(sqlite_demo).items()
    assert status == "executed" and made is not None and made.startswith("SO-")
    assert _orders(sqlite_demo) == orders + 1
    assert f"{number} sales_order — executed" in result.output and f"result: {made}" in result.output


def test_the_chat_asks_to_confirm_each_preview_and_y_executes_it(
    sqlite_demo: Database, demo_file: str, tmp_path: Path
) -> None:
    script = Script([Reply(calls=(ORDER,))])
    result = _interactive(demo_file, tmp_path, script, "2 V-200 for ACME\ny\n")
    assert result.exit_code == 0, result.output
    [(number, (status, made))] = _drafts(sqlite_demo).items()
    assert f"Confirm {number}? [y/N]" in result.output
    assert status == "executed" and made is not None and f"result: {made}" in result.output
    assert (
        len(script.seen) == 1
    )  # the model made the call; code answered the preview; the confirmation never reached it


def test_any_other_answer_leaves_the_preview_and_yes_next_confirms_it_without_the_model(
    sqlite_demo: Database, demo_file: str, tmp_path: Path
) -> None:
    orders = _orders(sqlite_demo)
    script = Script([Reply(calls=(ORDER,))])
    result = _interactive(demo_file, tmp_path, script, "2 V-200 for ACME\nsure, why not\n")
    [(number, (status, _))] = _drafts(sqlite_demo).items()
    assert status == "unconfirmed" and _orders(sqlite_demo) == orders
    assert f"{number} left unconfirmed" in result.output

    script = Script([Reply(calls=(ORDER,))])
    result = _interactive(demo_file, tmp_path, script, "2 V-200 for ACME\nn\n  Yes \n")
    assert result.exit_code == 0, result.output
    drafts = _drafts(sqlite_demo)
    newest = max(drafts, key=lambda n: int(n.removeprefix("DR-")))
    assert drafts[newest][0] == "executed" and drafts[number][0] == "unconfirmed"  # only this session's
    assert _orders(sqlite_demo) == orders + 1
    assert len(script.seen) == 1 and all("Yes" not in str(m) for m in script.seen[-1])


def test_yes_with_several_previews_asks_which_one(sqlite_demo: Database, demo_file: str, tmp_path: Path) -> None:
    script = Script([Reply(calls=(ORDER, TRANSFER))])
    result = _interactive(
        demo_file, tmp_path, script, "order 2 V-200 for ACME and move 2 from DAL to ATL\n\n\nyes\nnone\nconfirm\nDR-2\n"
    )
    assert result.exit_code == 0, result.output
    drafts = _drafts(sqlite_demo)
    assert sorted(drafts) == ["DR-1", "DR-2"]
    assert "Which one? DR-1, DR-2" in result.output and "nothing confirmed" in result.output
    assert drafts["DR-2"][0] in ("executed", "pending_approval") and drafts["DR-1"][0] == "unconfirmed"
    assert len(script.seen) == 1


def test_yes_with_nothing_to_confirm_is_an_ordinary_message(demo_file: str, tmp_path: Path) -> None:
    script = Script([Reply("Did you mean ACME?"), Reply("Noted.")])
    result = _interactive(demo_file, tmp_path, script, "the usual customer\nyes\n")
    assert result.exit_code == 0, result.output
    assert "Noted." in result.output and script.seen[-1][-1]["content"] == "yes"


def test_yes_goes_only_with_one_message(demo_file: str, tmp_path: Path) -> None:
    result = _chat(demo_file, tmp_path, "--user", "sam", "--yes", model=scripted_model(Script([])))
    assert result.exit_code == 2 and "goes with -m" in result.output
