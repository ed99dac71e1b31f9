"""A read result as a small model reads it: what its facts already state, and what explains how it was computed,
left out.

A 1.5B model on two CPU cores reads a tool result at about 80 tokens a second, and a turn of two look-ups reads
two results before it can answer, so the rows that repeat the result's `facts` cost seconds and tell it nothing
new. Each tool names what its facts state (`Tool.brief`); the explanations every tool may carry (how a figure is
computed, the KPI basis, the chart links code renders itself) go as well, unless the request asks how or why.
Refusals and draft previews are never briefed, and code reads the whole result wherever it checks one.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

# Per key: () leaves the key out; names leave those fields out of each of its rows (a list of objects, or one object).
Brief = Mapping[str, tuple[str, ...]]
# A tool's brief, or the brief of one result when what its facts state depends on the result (an order's first lines).
BriefOf = Brief | Callable[[dict[str, Any]], Brief]

EXPLAINING: Brief = {"how_computed": (), "basis": (), "charts": ()}  # what every result may carry to explain itself
# A request that asks how a figure is reached or why, or what it means: the result is read whole.
ASKS_HOW = re.compile(
    r"\b(?:why|how (?:is|are|was|were|do|does|did)|comput\w*|calculat\w*|basis|formula|defin\w*|mean[st]?)\b",
    re.IGNORECASE,
)


def asks_how(request: str) -> bool:
    """Whether the request asks how a figure is reached, why something is so, or what it means."""
    return bool(ASKS_HOW.search(request))


def briefed(data: Any, brief_of: BriefOf) -> Any:
    """`data` without what `brief_of` and `EXPLAINING` leave out; a refusal or anything without facts unchanged (its
    rows are all the model has)."""
    if not isinstance(data, dict) or "error" in data or not data.get("facts"):
        return data
    brief = brief_of(data) if callable(brief_of) else brief_of
    out: dict[str, Any] = {}
    for key, value in data.items():
        left_out = brief.get(key, EXPLAINING.get(key))
        if left_out == ():
            continue
        out[key] = _without(value, left_out) if left_out else value
    return {k: _nested(v) for k, v in out.items()}


def _without(value: Any, fields: tuple[str, ...]) -> Any:
    """Each row of `value` (or `value`, one object) without `fields`."""
    if isinstance(value, list):
        return [_without(v, fields) for v in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in fields}
    return value


def _nested(value: Any) -> Any:
    """`value` without the explaining keys of the objects it holds (a report's per-entity basis)."""
    if isinstance(value, list):
        return [_nested(v) for v in value]
    if isinstance(value, dict):
        return {k: _nested(v) for k, v in value.items() if k not in EXPLAINING}
    return value
