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
        settings=ModelSettings(model="local/qwen2.5-coder-1.5b", retries=0),
    )
    sam = sqlite_demo.read(lambda s: load_actor(s, username="sam"))
    tokens: list[str] = []

    result = assistant.turn(sam, "How many V-200 do we have in Atlanta?", on_event=lambda e: tokens.append(e.text))

    assert [(t.name, t.arguments.get("sku"), t.ok) for t in result.tools] == [("check_availability", "V-200", True)]
    assert result.stopped is None and result.grounding.ok, (result.answer, result.grounding)
    assert "V-200" in result.grounding.sources
    assert len([t for t in tokens if t]) > 1  # the answer streamed in pieces
