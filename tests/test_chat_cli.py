"""`erp-assistant chat` end to end in the terminal: the scripted model behind the real command."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from assistant.cli import app
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from core.db import Database


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
