"""Judging one run: the effects that must and must not exist, and what the answer must say."""

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from evals.common.state import Snapshot
from evals.scenarios.task import DraftEffect, Expect

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _same(expected: Any, actual: Any) -> bool:
    """Strings without case and punctuation (v200 = V-200); numbers as numbers; dicts and lists as subsets."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and all(any(_same(e, a) for a in actual) for e in expected)
    if isinstance(expected, int | float | Decimal) and not isinstance(expected, bool):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    return _plain(str(expected)) == _plain(str(actual))


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _matches(effect: DraftEffect, draft: dict[str, Any]) -> bool:
    return (
        draft["kind"] == effect.kind
        and (effect.status is None or draft["status"] == effect.status)
        and _same(effect.fields, _resolved(draft))
    )


def _resolved(draft: dict[str, Any]) -> Any:
    """What the draft does, by the records the core resolved ("Birmingham" is BHM); the payload as typed when the
    resolved one is not known."""
    return draft.get("resolved", draft["payload"])


def numbers_in(text: str) -> list[Decimal]:
    return [Decimal(n.replace(",", "")) for n in NUMBER.findall(text)]


def failures(expect: Expect, before: Snapshot, after: Snapshot, drafts: list[dict[str, Any]], answer: str) -> list[str]:
    """Why the run fails its task; empty when it passes."""
    found: list[str] = []
    for effect in expect.drafts:
        if not any(_matches(effect, d) for d in drafts):
            found.append(f"missing draft {effect.model_dump(exclude_defaults=True)}; made {_brief(drafts)}")
    for effect in expect.no_drafts:
        if any(_matches(effect, d) for d in drafts):
            found.append(f"a draft that must not exist: {effect.model_dump(exclude_defaults=True)}")
    if expect.no_new_drafts and drafts:
        found.append(f"no draft was expected; made {_brief(drafts)}")
    if expect.stock_unchanged and before.stock != after.stock:
        found.append("stock changed")
    for case in expect.cases:
        status, owner = after.cases.get(case.case, (None, None))
        if case.status is not None and status != case.status:
            found.append(f"{case.case} is {status}, expected {case.status}")
        if case.owner is not None and owner != case.owner:
            found.append(f"{case.case} is owned by {owner}, expected {case.owner}")
    lowered = answer.lower()
    found += [f"the answer lacks {text!r}" for text in expect.answer_contains if not _says(lowered, text)]
    found += [f"the answer must not say {text!r}" for text in expect.answer_excludes if text.lower() in lowered]
    said = numbers_in(answer)
    for number in expect.answer_numbers:
        if not any(abs(n - number.value) <= number.tolerance for n in said):
            found.append(f"the answer lacks the number {number.value} (±{number.tolerance})")
    return found


def _says(lowered: str, text: str) -> bool:
    """Whether the answer says the text, or one of its `|`-separated wordings ("2026-11-30|Nov 30")."""
    return any(option.strip().lower() in lowered for option in text.split("|"))


WRITES = frozenset({"executed", "pending_approval", "approved"})  # a confirmed draft that went on: written or submitted


def wrong_writes(expect: Expect, drafts: list[dict[str, Any]], confirmed: list[str]) -> list[str]:
    """The confirmed drafts that executed or went to approvers and differ from what the user asked: no draft the
    task expects (or allows) has their kind and, exactly, its fields (lines one for one: no extra or doubled
    line). Fields compare the records the core resolved, not the words the model typed: "Birmingham" for BHM is
    right, another warehouse is not. A task that expects no draft makes every confirmed write wrong. The target
    is none."""
    asked = [*expect.drafts, *expect.may_draft]
    return [
        f"{d['number']} {d['kind']} {d['status']} was not asked for: {_payload(d)}"
        for d in drafts
        if d["number"] in confirmed
        and d["status"] in WRITES
        and not any(e.kind == d["kind"] and _exactly(e.fields, _resolved(d)) for e in asked)
    ]


def _exactly(expected: Any, actual: Any) -> bool:
    """As `_same`, but a list must match line for line: as many items, each matching a different one."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _exactly(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and _pairs(expected, list(actual))
    return _same(expected, actual)


def _pairs(expected: list[Any], actual: list[Any]) -> bool:
    """Whether each expected item matches a different actual item (the lists are as long)."""
    if not expected:
        return True
    first, rest = expected[0], expected[1:]
    return any(_exactly(first, a) and _pairs(rest, actual[:i] + actual[i + 1 :]) for i, a in enumerate(actual))


def _payload(draft: dict[str, Any]) -> str:
    return json.dumps(_resolved(draft), sort_keys=True, default=str)[:300]


def _brief(drafts: list[dict[str, Any]]) -> str:
    return ", ".join(f"{d['number']} {d['kind']} {d['status']}" for d in drafts) or "none"
