"""The whole assistant with the real local model: the graph, the tools and the demo company (marked local_model)."""

import os
from pathlib import Path

import pytest

from assistant.agent import Assistant
from assistant.conversations import open_checkpointer
from assistant.llm.settings import ModelSettings
from assistant.llm.weights import is_verified, model_path
from core.db import Database
from core.masterdata.service import load_actor

INSTALLED = model_path().is_file() if os.environ.get("ERP_LOCAL_MODEL_PATH") else is_verified(model_path())


@pytest.mark.local_model
@pytest.mark.skipif(not INSTALLED, reason="the local model is not installed: run `erp-assistant model install`")
def test_a_stock_question_is_answered_from_the_tool_with_the_tools_number(
    sqlite_demo: Database, tmp_path: Path
) -> None:
    assistant = Assistant(
        sqlite_demo,
        open_checkpointer("sqlite://", sqlite_path=tmp_path / "c.db"),
        # What this checks is the tool and its number; how fast is the benchmark's (a busy CI machine's first
        # prompt of ~5,000 tokens can take longer than the product's 120 s).
        settings=ModelSettings(model="local/qwen2.5-coder-1.5b", retries=0, timeout_s=600),
    )
    sam = sqlite_demo.read(lambda s: load_actor(s, username="sam"))
    tokens: list[str] = []

    result = assistant.turn(sam, "How many V-200 do we have in Atlanta?", on_event=lambda e: tokens.append(e.text))

    assert [(t.name, t.arguments.get("sku"), t.ok) for t in result.tools] == [("check_availability", "V-200", True)]
    assert result.stopped is None and result.grounding.ok, (result.answer, result.grounding)
    assert "V-200" in result.grounding.sources
    assert len([t for t in tokens if t]) > 1  # the answer streamed in pieces


# A whole two-step turn takes the local model three calls (half a minute or more on a busy 2-core machine): not in
# `make test`; run it with ERP_TEST_MULTISTEP=1. The dev set's figures: evals/results/multistep_bench-latest.md.
@pytest.mark.local_model
@pytest.mark.skipif(not INSTALLED, reason="the local model is not installed: run `erp-assistant model install`")
@pytest.mark.skipif(not os.environ.get("ERP_TEST_MULTISTEP"), reason="a long real-model turn: set ERP_TEST_MULTISTEP=1")
def test_a_check_then_draft_request_makes_both_calls_in_one_turn(sqlite_demo: Database, tmp_path: Path) -> None:
    assistant = Assistant(
        sqlite_demo,
        open_checkpointer("sqlite://", sqlite_path=tmp_path / "c.db"),
        settings=ModelSettings(model="local/qwen2.5-coder-1.5b", retries=0),
    )
    sam = sqlite_demo.read(lambda s: load_actor(s, username="sam"))

    result = assistant.turn(sam, "How many V-200 are free in Dallas? If more than 50, move 20 of them to Atlanta")

    assert [t.name for t in result.tools] == ["check_availability", "draft_transfer"], result.answer
    assert result.stopped is None and result.usage.model_calls == 3
