"""The scripted model a served web app plays under load (its replies cost nothing, so the figures are the
service's own cost), what the users ask it, and the accounts and stock that load needs."""

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from assistant.llm.scripted import Call, Reply, Script
from core.db import Database
from core.identity import set_password
from core.masterdata.service import load_actor
from core.stock.service import adjust_stock
from tools.outcome import ToolOutcome

SCRIPTED_MODEL = "scripted/evals.common.scripted_load:bench_script"
STOCK_WAREHOUSE = {"NA": "ATL", "UK": "BHM", "SEA": "SIN"}  # where each entity's users ask about stock
STOCK_SKU = "V-200"
TRANSFER_LINES = (("P-200", 3), ("P-180", 5))  # worth about USD 15,000: over the USD 10,000 allowed alone
TRANSFER = {
    "from_warehouse": "DAL",
    "to_warehouse": "ATL",
    "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in TRANSFER_LINES],
}
TRANSFER_TEXT = "Please move 3 P-200 and 5 P-180 from DAL to ATL"

ASKED = re.compile(r"\b([A-Z]{1,4}-\d{2,5})\b.*?\b([A-Z]{3})\b")


class BenchScript(Script):
    """Answers from the messages alone, so every worker and every turn can share it.

    The user's message decides the tool call: "move ... from DAL to ATL" drafts the transfer above,
    anything else checks the availability of the SKU and warehouse it names. A tool result gets a
    short fixed answer made from its numbers. Nothing is kept between calls.
    """

    def __init__(self) -> None:
        super().__init__([])

    def next(self, messages: list[dict[str, Any]], tool_choice: str | None = None) -> Reply:
        last = messages[-1] if messages else {}
        if last.get("role") == "tool" or tool_choice == "none":
            return answer_to(str(last.get("content") or "{}"))
        return call_for(str(last.get("content") or ""))


def call_for(text: str) -> Reply:
    """The tool call a user's message asks for."""
    if text.lower().startswith("please move"):
        return Reply(calls=(Call("draft_transfer", TRANSFER),))
    found = ASKED.search(text)
    sku, warehouse = (found.group(1), found.group(2)) if found else (STOCK_SKU, "ATL")
    return Reply(calls=(Call("check_availability", {"sku": sku, "warehouse": warehouse}),))


def answer_to(content: str) -> Reply:
    """A short answer from a tool result's own figures."""
    try:
        result = json.loads(content)
    except ValueError:
        result = {}
    if not isinstance(result, dict):
        return Reply(text="I could not read that result.")
    outcome = ToolOutcome.from_json(result)
    if outcome.error is not None:
        return Reply(text=f"That did not work: {outcome.error.message}")
    if outcome.draft is not None and outcome.draft.status == "unconfirmed":
        draft = outcome.draft
        return Reply(text=f"Drafted {draft.draft} (unconfirmed): confirm it on the card. {draft.decision}")
    if outcome.draft is not None:
        waiting = ", ".join(outcome.draft.waiting_for) or "nobody"
        return Reply(text=f"Drafted {outcome.draft.draft} ({outcome.draft.status}); it waits for {waiting}.")
    if "total_available" in result:
        places = ", ".join(f"{w['available_now']} at {w['warehouse']}" for w in result.get("warehouses", []))
        return Reply(text=f"**{result.get('sku')}**: {places or 'none in your warehouses'} now.")
    return Reply(text="Done.")


def bench_script() -> Script:
    """The factory `SCRIPTED_MODEL` names (imported by the server)."""
    return BenchScript()


def prepare_accounts(db: Database, accounts: Sequence[str], password: str, transfers: int) -> None:
    """Passwords for the accounts used, and stock at DAL for every transfer the users will draft
    (the demo keeps only a few of these pumps; without it every approval after the first would fail)."""

    def command(session: Session) -> None:
        for name in accounts:
            set_password(session, username=name, password=password)
        if transfers:
            wes = load_actor(session, username="wes")  # a warehouse user of NA may correct DAL's stock
            for sku, quantity in TRANSFER_LINES:
                extra = quantity * (transfers + 1)
                adjust_stock(session, wes, sku=sku, warehouse="DAL", quantity=extra, reason="web load benchmark")

    db.run(command)
