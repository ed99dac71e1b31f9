"""The phrasing table (evals/datasets/phrasings.yaml): what users type and the first call that should follow.

A row matches when the model picked the expected tool (or none) and every expected argument is there:
strings without case or punctuation ("v200" = "V-200"), "A|B" for either, "~word" for "contains word",
numbers as numbers, lists item by item. `nothing_added` also wants no argument the row does not name
(a stricter view: most added ones are defaults spelled out, some are wrong, e.g. warehouse "NA").
"""

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

DATASET = Path(__file__).resolve().parents[1] / "datasets" / "phrasings.yaml"


@dataclass(frozen=True)
class Phrasing:
    text: str
    tool: str | None
    args: dict[str, Any] = field(default_factory=dict)


def load(path: Path = DATASET) -> list[Phrasing]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Phrasing(str(r["text"]), r.get("tool"), _plain(r.get("args") or {})) for r in rows]


def _plain(value: Any) -> Any:
    """YAML's dates back to the strings a model writes."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def _norm(value: Any) -> str:
    return re.sub(r"[^0-9a-z]", "", str(value).casefold())


def matches(expected: Any, actual: Any) -> bool:
    """Whether `actual` (the model's arguments) holds everything `expected` asks for."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or expected is None:
        return bool(expected == actual)
    if isinstance(expected, int | float):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    return any(_matches_text(option, actual) for option in str(expected).split("|"))


def _matches_text(option: str, actual: Any) -> bool:
    if isinstance(actual, dict | list):
        return False
    if option.startswith("~"):
        return _norm(option[1:]) in _norm(actual)
    return _norm(option) == _norm(actual)


@dataclass(frozen=True)
class Verdict:
    tool_right: bool
    args_right: bool  # tool and arguments
    nothing_added: bool = False  # and no top-level argument the row does not expect


def judge(row: Phrasing, tool: str | None, arguments: str | dict[str, Any] | None) -> Verdict:
    if tool != row.tool:
        return Verdict(False, False)
    if tool is None:
        return Verdict(True, True, True)
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments or {}
    except ValueError:
        return Verdict(True, False)
    right = matches(row.args, args)
    return Verdict(True, right, right and set(args) <= set(row.args))
