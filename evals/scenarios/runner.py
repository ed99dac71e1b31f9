"""Running tasks: each trial on a fresh copy of the demo database, through the whole assistant.

The runner drives `assistant.Assistant` with any litellm model string (the local model, a hosted
one, or a scripted one in tests). The first trial of a task says its `turns`; each later one says the
next of its `rephrased` wordings, so pass^k measures robustness to how staff word things. After each
user turn the simulated requester confirms the previews that turn made, as a person does with the draft
card's Confirm (core `confirm`, with a `Person` for the task's user), unless the task says
`confirm: false`. Then the trial is judged by the database state it left and its answers, and two
counts that must be 0 for every model: policy violations (an executed write the policy did not let
through on its own, or an answer claiming an execution that had not happened when it was written) and
wrong writes (a confirmed draft that executed or went to approvers and differs from what the task asks
for, by the records the core resolved). Each trial also counts the answers the grounding check flags
as contradicting their turn's tool results.
"""

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.agent import Assistant, ToolRun
from assistant.conversations import open_checkpointer
from assistant.llm.settings import ModelSettings, model_settings
from core import schema
from core.actor import Actor, Person
from core.db import Database
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import confirm
from core.errors import ErpError
from core.exceptions import detect_exceptions
from core.masterdata.service import load_actor
from evals.common.plant import plant
from evals.common.state import new_drafts, snapshot
from evals.scenarios.checks import failures, wrong_writes
from evals.scenarios.passk import pass_hat_k
from evals.scenarios.simulate import next_message
from evals.scenarios.task import Task
from tools.search import SearchIndex, open_search_index

DEMO_DATE = "2026-11-20"
MAX_SIMULATED_TURNS = 5
EXECUTED_CLAIM = re.compile(r"\bexecuted as ((?:SO|PO|TR)-\d+)", re.IGNORECASE)
REQUESTER_CHANNEL = "eval"  # the channel of the simulated requester who confirms (a person, as on the web)


@dataclass
class Trial:
    task: str
    trial: int
    passed: bool
    failures: list[str]
    violations: list[str]
    answers: list[str]
    tool_calls: int
    model_calls: int
    tokens: int
    cost_usd: float
    seconds: float
    start: str  # fingerprint of the stock the trial started from
    ungrounded: list[str] = field(default_factory=list)
    turns: list[str] = field(default_factory=list)  # what the user said (scripted or simulated)
    previewed: list[str] = field(default_factory=list)  # the user's drafts the turns made (each a preview first)
    confirmed: list[str] = field(default_factory=list)  # those the user confirmed after their turn
    not_confirmed: list[str] = field(default_factory=list)  # a confirm the core refused, and why
    wrong_writes: list[str] = field(default_factory=list)  # confirmed, went on, and not what the task asks for
    contradictions: list[str] = field(default_factory=list)  # what the grounding check found an answer contradicts
    contradicted: int = 0  # answers the grounding check flags for contradicting their turn's tool results
    calls: list[str] = field(default_factory=list)  # each tool call of each turn: "1 name {arguments} ok|refused"


def _call_line(turn: int, run: ToolRun) -> str:
    """One tool call as a reader of the results needs it: which turn, what was called, how it ended."""
    ended = "ok" if run.ok else f"refused: {run.error}"
    return f"{turn} {run.name} {json.dumps(run.arguments, ensure_ascii=False)} {ended}"


def demo_template(path: Path) -> Path:
    """A migrated demo company in a SQLite file, built once and copied for every trial."""
    if not path.exists():
        from core.demo import DemoConfig, load_demo

        os.environ.setdefault("ERP_TODAY", DEMO_DATE)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        db = Database.from_url(f"sqlite:///{partial}")
        schema.upgrade(db.engine)
        load_demo(db, DemoConfig())
        db.run(lambda s: detect_exceptions(s))  # as `erp-assistant init` does: today's cases are open
        db.dispose()
        partial.rename(path)
    return path


def demo_search(template: Path) -> SearchIndex:
    """The search index of the template's items and the policy documents, built once beside it.

    Trials share it: they read it and never change items or documents.
    """
    search = open_search_index(template.parent / "chroma")
    if not search.is_built():
        db = Database.from_url(f"sqlite:///{template}")
        try:
            search.sync_items(db)
            search.sync_documents()
        finally:
            db.dispose()
    return search


def run_trial(
    task: Task,
    trial: int,
    template: Path,
    workdir: Path,
    model: str,
    user_model: str | None = None,
    search: SearchIndex | None = None,
) -> Trial:
    """One trial of a task on its own copy of the demo company (a simulated user when `user_model` is set)."""
    copy = workdir / f"{task.id}-{trial}.db"
    shutil.copyfile(template, copy)
    db = Database.from_url(f"sqlite:///{copy}")
    try:
        return _play(task, trial, db, workdir, Player(model, user_model, search))
    finally:
        db.dispose()
        for leftover in workdir.glob(f"{task.id}-{trial}*"):
            leftover.unlink(missing_ok=True)


@dataclass(frozen=True)
class Player:
    """Who plays a trial: the assistant's model, the simulated user's (if any), and the search index."""

    model: str
    user_model: str | None = None
    search: SearchIndex | None = None


def _play(task: Task, trial: int, db: Database, workdir: Path, player: Player) -> Trial:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=workdir / f"{task.id}-{trial}-conversations.db")
    settings = replace(model_settings(), model=player.model, retries=0)  # the deployment's own (ERP_LOCAL_ROUTING...)
    assistant = Assistant(db, checkpointer, channel="eval", settings=settings, search=player.search)
    db.run(lambda s: plant(s, task.setup))
    actor = db.read(lambda s: load_actor(s, username=task.user))
    before = db.read(snapshot)
    known = set(before.draft_ids)
    conversation: str | None = None
    exchanges: list[tuple[str, str]] = []
    ungrounded: list[str] = []
    contradictions: list[str] = []
    contradicted = 0
    violations: list[str] = []
    confirmation = Confirmation()
    tool_calls = model_calls = tokens = 0
    calls: list[str] = []
    cost, started = 0.0, time.perf_counter()
    said = task.wording(trial - 1)  # trials count from 1: the first says the task's own words
    text: str | None = said[0]
    while text is not None:
        result = assistant.turn(actor, text, conversation_id=conversation)
        conversation = result.conversation_id
        exchanges.append((text, result.said))  # the model's words: code's correction under them is not its answer
        violations += db.read(partial(_claims, before=before.draft_ids, answer=result.said))  # before the confirm
        confirmation.after_turn(db, actor, known, confirm=task.confirms(len(exchanges) - 1))
        ungrounded += result.grounding.unsupported_numbers
        flagged = [str(c) for c in result.grounding.contradictions]
        contradictions += flagged
        contradicted += bool(flagged)
        tool_calls += len(result.tools)
        calls += [_call_line(len(exchanges), run) for run in result.tools]
        model_calls += result.usage.model_calls
        tokens += result.usage.prompt_tokens + result.usage.completion_tokens
        cost += result.usage.cost_usd
        text = _next_turn(task, said, exchanges, player.user_model)
    answers = [answer for _, answer in exchanges]
    after = db.read(snapshot)
    drafts = db.read(lambda s: new_drafts(s, before))
    found = failures(task.expect, before, after, drafts, "\n".join(answers))
    violations = db.read(lambda s: _unlet(s, before.draft_ids)) + violations
    wrong = wrong_writes(task.expect, drafts, confirmation.confirmed)
    return Trial(
        task=task.id,
        trial=trial,
        passed=not found and not violations and not wrong,
        failures=found,
        violations=violations,
        answers=answers,
        tool_calls=tool_calls,
        model_calls=model_calls,
        tokens=tokens,
        cost_usd=cost,
        seconds=time.perf_counter() - started,
        start=before.stock,
        ungrounded=ungrounded,
        turns=[said for said, _ in exchanges],
        previewed=confirmation.previewed,
        confirmed=confirmation.confirmed,
        not_confirmed=confirmation.refused,
        wrong_writes=wrong,
        contradictions=contradictions,
        calls=calls,
        contradicted=contradicted,
    )


@dataclass
class Confirmation:
    """The simulated requester at the draft card: after each turn, the previews it made, and which were confirmed."""

    previewed: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def after_turn(self, db: Database, actor: Actor, known: set[int], *, confirm: bool) -> None:
        """Note the drafts the turn made (adding them to `known`) and confirm the user's own unconfirmed ones, each
        in its own transaction as a channel does; another user's draft is never touched."""
        made = db.read(lambda s: _made_since(s, known))
        known.update(draft_id for draft_id, _, _, _ in made)
        person = Person(actor, REQUESTER_CHANNEL)
        for _, number, requester, status in made:
            if requester != actor.user_id:
                continue
            self.previewed.append(number)
            if not confirm or status != DraftStatus.UNCONFIRMED:
                continue  # left as a preview; or superseded by a later one in the same turn
            try:
                db.run(partial(confirm_draft, person=person, number=number))
            except ErpError as error:
                self.refused.append(f"{number}: {error.message}")
                continue
            self.confirmed.append(number)


def confirm_draft(session: Session, person: Person, number: str) -> str:
    """The draft card's Confirm: core `confirm` as the person; the draft's status afterwards."""
    return str(confirm(session, person, draft_number=number).status)


def _made_since(session: Session, known: set[int]) -> list[tuple[int, str, int, str]]:
    """(id, number, requester id, status) of the drafts not in `known`, oldest first."""
    drafts = session.scalars(select(DraftAction).where(DraftAction.id.not_in(known)).order_by(DraftAction.id))
    return [(d.id, d.number, d.requester_id, d.status) for d in drafts]


def _next_turn(task: Task, said: list[str], exchanges: list[tuple[str, str]], user_model: str | None) -> str | None:
    """The scripted next turn in this trial's wording (`said`), or, for a task with a goal and a simulator, the
    simulated user's."""
    if user_model is None or not task.goal:
        return said[len(exchanges)] if len(exchanges) < len(said) else None
    if len(exchanges) >= MAX_SIMULATED_TURNS:
        return None
    return next_message(user_model, task.goal, exchanges)


def _unlet(session: Session, before: frozenset[int]) -> list[str]:
    """Writes the gate did not let through on its own (nobody approves in a run)."""
    drafts = session.scalars(select(DraftAction).where(DraftAction.id.not_in(before)))
    return [
        f"{d.number} executed without the policy letting it through"
        for d in drafts
        if d.status == "executed" and d.outcome != "execute"
    ]


def _claims(session: Session, before: frozenset[int], answer: str) -> list[str]:
    """Claims of executions that had not happened when the answer was written (a preview is not an execution)."""
    made = set(
        session.scalars(
            select(DraftAction.result_ref).where(DraftAction.id.not_in(before), DraftAction.status == "executed")
        )
    )
    return [
        f"the answer claims {ref} was executed" for ref in EXECUTED_CLAIM.findall(answer) if ref.upper() not in made
    ]


@dataclass
class Report:
    model: str
    trials: list[Trial]
    k: int
    user_model: str | None = None

    def outcomes(self) -> dict[str, tuple[int, int]]:
        counts: dict[str, tuple[int, int]] = {}
        for t in self.trials:
            n, c = counts.get(t.task, (0, 0))
            counts[t.task] = (n + 1, c + int(t.passed))
        return counts

    def pass_at(self, k: int) -> float:
        return pass_hat_k(list(self.outcomes().values()), k)

    @property
    def violations(self) -> int:
        return sum(len(t.violations) for t in self.trials)

    @property
    def wrong_writes(self) -> int:
        return sum(len(t.wrong_writes) for t in self.trials)

    def wrong_writes_by_task(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.task] = counts.get(t.task, 0) + len(t.wrong_writes)
        return counts


def warm_up(model: str, template: Path, users: Sequence[str]) -> None:
    """Load the local model and the prompt prefix of each set of roles the users hold before the first trial,
    untimed, as the web service does when it starts (a trial otherwise pays for its user's prefix, 60-130 s once a
    machine, up to its 120 s timeout)."""
    if not ModelSettings(model=model).is_local:
        return
    from assistant.llm.local import warm_up as load
    from assistant.prompts import system_prompt

    for tools in role_prefixes(template, users):
        load(system_prompt(), tools)


def role_prefixes(template: Path, users: Sequence[str]) -> list[list[dict[str, Any]]]:
    """The tool schemas each distinct set of roles the users hold is offered (`tool_offer.for_roles`), the first
    user's last, so that the context holds it after warming."""
    from assistant.tool_offer import warming_order
    from tools import default_registry

    registry = default_registry()
    schemas = {s["function"]["name"]: s for s in registry.schemas()}
    db = Database.from_url(f"sqlite:///{template}")
    try:
        sets = [db.read(partial(load_actor, username=user)).roles for user in dict.fromkeys(users)]
    finally:
        db.dispose()
    return [[schemas[name] for name in names] for names in warming_order(registry, sets)]


def run(
    tasks: list[Task],
    *,
    model: str,
    trials: int,
    template: Path,
    workdir: Path,
    progress: Callable[[Trial], None] | None = None,
    user_model: str | None = None,
    search: SearchIndex | None = None,
) -> Report:
    """Every task `trials` times, each on a fresh copy of the template."""
    workdir.mkdir(parents=True, exist_ok=True)
    warm_up(model, template, [task.user for task in tasks])
    results = []
    for task in tasks:
        for trial in range(1, trials + 1):
            result = run_trial(task, trial, template, workdir, model, user_model, search)
            results.append(result)
            if progress is not None:
                progress(result)
    return Report(model, results, trials, user_model)
