"""Grounding: which records an answer relied on, and which of its numbers no tool result supports.

The check is mechanical on purpose. Every number in an answer must appear in a tool result of
the same turn (or in the user's own message); an answer that quotes "40 available" when the
tool said 12 is flagged, whoever wrote it.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.numbering import (
    DRAFT,
    EXCEPTION_CASE,
    INVOICE,
    PURCHASE_ORDER,
    SALES_ORDER,
    SHIPMENT,
    TRANSFER,
    mention_pattern,
)

RECORD_ID = mention_pattern([SALES_ORDER, PURCHASE_ORDER, TRANSFER, INVOICE, SHIPMENT, DRAFT, EXCEPTION_CASE])
SKU_KEYS = ("sku",)
NUMBER = re.compile(r"(?<![\w.-])-?\d[\d,]*(?:\.\d+)?")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@dataclass(frozen=True)
class Grounding:
    sources: list[str]
    unsupported_numbers: list[str]

    @property
    def ok(self) -> bool:
        return not self.unsupported_numbers


def record_ids(results: Iterable[Any]) -> list[str]:
    """Ids of the records the tool results came from, in order of first appearance."""
    found: dict[str, None] = {}
    for result in results:
        for key, value in _leaves(result):
            if key in SKU_KEYS and isinstance(value, str):
                found.setdefault(value)
            if isinstance(value, str):
                for match in RECORD_ID.findall(value):
                    found.setdefault(match)
    return list(found)


def check(answer: str, results: list[Any], question: str = "") -> Grounding:
    """The records the answer relied on, and the numbers in it that nothing this turn supports."""
    ids = record_ids(results)
    cited = [i for i in ids if i in answer]
    known = _numbers_in(json.dumps(results, default=str)) | _numbers_in(question)
    text = DATE.sub(" ", RECORD_ID.sub(" ", answer))
    for sku in ids:
        text = text.replace(sku, " ")
    unsupported = [n for n in dict.fromkeys(NUMBER.findall(text)) if _value(n) not in known]
    return Grounding(sources=cited or ids, unsupported_numbers=unsupported)


def _numbers_in(text: str) -> set[Decimal]:
    values = {_value(n) for n in NUMBER.findall(DATE.sub(lambda m: " ".join(m.group().split("-")), text))}
    return {v for v in values if v is not None}


def _value(token: str) -> Decimal | None:
    try:
        return Decimal(token.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def _leaves(node: Any, key: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _leaves(v, key)
    else:
        yield key, node
