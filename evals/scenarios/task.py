"""A scenario task: who asks, what they say, and what the database and the answer must show afterwards."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evals.common.plant import Setup


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DraftEffect(Strict):
    """A draft the run must (or must not) have made: its kind, status and fields of its payload."""

    kind: str
    status: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)  # payload values that must match (subset)


class CaseEffect(Strict):
    """An exception case the run must have changed: its new status or owner."""

    case: str
    status: str | None = None
    owner: str | None = None


class Number(Strict):
    value: Decimal
    tolerance: Decimal = Decimal(0)


class Expect(Strict):
    """What the database and the answers must show after the trial. The drafts here are also what the user asked
    for: a draft the requester confirms that matches none of `drafts` and `may_draft` (kind, and the fields given,
    lists line for line) is a wrong write. Fields are compared with the records the core resolved the draft to
    (codes: "Birmingham" is BHM, a customer's name its code), so give codes here."""

    drafts: list[DraftEffect] = Field(default_factory=list)  # each must exist among the new drafts
    may_draft: list[DraftEffect] = Field(default_factory=list)  # asked for, but declining is right too
    no_drafts: list[DraftEffect] = Field(default_factory=list)  # none may exist among the new drafts
    no_new_drafts: bool = False
    stock_unchanged: bool = False
    cases: list[CaseEffect] = Field(default_factory=list)
    answer_contains: list[str] = Field(default_factory=list)  # case-insensitive; 'a|b' accepts either wording
    answer_numbers: list[Number] = Field(default_factory=list)
    answer_excludes: list[str] = Field(default_factory=list)  # e.g. another entity's data


class RefCall(Strict):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class RefTurn(Strict):
    """What a correct assistant does for one user turn: these tool calls, then this answer.

    `then` is a second round of calls, made after the first round's results are in, and `after` a third (a
    draft that needs two look-ups first). `say` may quote the turn's tool results, numbered over all rounds:
    `{0.total_available}` is field `total_available` of the first call's result,
    `{1.warehouses.0.available_now}` walks into the second's.
    """

    calls: list[RefCall] = Field(default_factory=list)
    then: list[RefCall] = Field(default_factory=list)
    after: list[RefCall] = Field(default_factory=list)
    say: str

    @property
    def rounds(self) -> list[list[RefCall]]:
        return [r for r in (self.calls, self.then, self.after) if r]


class Task(Strict):
    id: str
    user: str
    turns: list[str] = Field(min_length=1)
    # Other staff's wording of the same conversation, one list per wording, each as long as `turns`: trial 0 of a
    # task says `turns`, trial k says rephrased[(k - 1) % len(rephrased)], so pass^3 measures robustness to wording.
    rephrased: list[list[str]] = Field(default_factory=list)
    expect: Expect
    setup: Setup = Field(default_factory=Setup)
    reference: list[RefTurn] = Field(default_factory=list)  # one per turn; proves the task can be passed
    goal: str = ""  # for a simulated user: what the user wants; the first turn opens the conversation
    tags: list[str] = Field(default_factory=list)
    note: str = ""
    # Whether the user confirms the previews a turn made (the draft card's Confirm), as a person would after
    # reading them: false for a task where the user should be asked a question instead, a list for one per turn
    # (false for a turn whose preview the user then corrects: "no, make that 30").
    confirm: bool | list[bool] = True

    @model_validator(mode="after")
    def _reference_per_turn(self) -> "Task":
        if self.reference and len(self.reference) != len(self.turns):
            raise ValueError(f"{self.id}: {len(self.reference)} reference turns for {len(self.turns)} turns")
        if isinstance(self.confirm, list) and len(self.confirm) != len(self.turns):
            raise ValueError(f"{self.id}: {len(self.confirm)} confirm flags for {len(self.turns)} turns")
        for wording in self.rephrased:
            if len(wording) != len(self.turns):
                raise ValueError(f"{self.id}: a rephrasing of {len(wording)} turns for {len(self.turns)} turns")
        return self

    def wording(self, trial: int) -> list[str]:
        """What the user says in trial `trial` (0-based)."""
        if trial == 0 or not self.rephrased:
            return self.turns
        return self.rephrased[(trial - 1) % len(self.rephrased)]

    def confirms(self, turn: int) -> bool:
        """Whether the user confirms the previews of turn `turn` (0-based; a simulated user's later turns: the last
        scripted turn's choice)."""
        if isinstance(self.confirm, bool):
            return self.confirm
        return self.confirm[min(turn, len(self.confirm) - 1)]


def load_tasks(folder: Path, tags: list[str] | None = None) -> list[Task]:
    """Every task in the folder's YAML files (a file holds a list of tasks), optionally only those with a tag."""
    tasks = [
        Task.model_validate(item)
        for path in sorted(folder.glob("*.yaml"))
        for item in yaml.safe_load(path.read_text()) or []
    ]
    ids = [t.id for t in tasks]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate task ids: {', '.join(sorted(duplicates))}")
    return [t for t in tasks if not tags or set(tags) & set(t.tags)]
