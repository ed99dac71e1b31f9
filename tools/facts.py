"""Fact sentences: the figures and states a person asks for, rendered by code, for the model to quote.

A read tool's result carries `facts`, a few short sentences such as "ACME credit limit: USD 20,000.00." or
"ACME is not on credit hold.". Each is one figure or one state with its label, its unit or currency and its date
or period where it has one. The model chooses which to say and connects them; it does not restate a figure in its
own words. The answer checker (assistant/faithfulness.py) quotes the same sentences back when an answer
contradicts them, so the labels below are shared: a figure sentence is "<subject> <label>[ <where>]: <value>."
"""

from datetime import date
from decimal import Decimal

from core.money import format_money

# Labels of figures and states, as they appear in fact sentences (the checker maps the answer's words to these).
CREDIT_LIMIT = "credit limit"
OPEN_RECEIVABLES = "open receivables"
OPEN_ORDERS = "open orders"
EXPOSURE = "exposure"
CREDIT_AVAILABLE = "credit available"
CREDIT_HOLD = "credit hold"
ON_HAND = "on hand"
RESERVED = "reserved"
BACKORDERED = "backordered"
INCOMING = "incoming"
AVAILABLE = "available to promise"
STATUS = "status"
TOTAL = "total"
SHORTAGE = "shortage"
FILL_RATE = "fill rate"
ON_TIME = "on-time shipping"
BACKLOG = "backlog"
INVENTORY_VALUE = "inventory value"
OPEN_PAYABLES = "open payables"
REVENUE = "revenue"
MARGIN = "margin"
OPEN_CASES = "open exception cases"
PAST_SLA = "cases past SLA"
APPROVALS_PENDING = "approvals pending"
WAITING_FOR_YOU = "drafts waiting for your approval"
LEFT_TO_SHIP = "left to ship"
MILESTONE = "latest milestone"
STOCK_ADJUSTMENTS = "stock adjustments"
RETURN_VALUE = "return value"
CREDITED = "credited"


def figure(subject: str, label: str, value: str, where: str = "") -> str:
    """One figure: "ACME credit limit: USD 20,000.00." or "V-200 on hand at ATL: 30 units."."""
    head = " ".join(part for part in (subject, label, where) if part)
    return f"{head}: {value}."


def count(label: str, number: int) -> str:
    """How many there are, with what was counted: "Open shortage cases: 4."."""
    return f"{label[:1].upper()}{label[1:]}: {number}."


def none_of(label: str) -> str:
    """That there are none, in words: "Drafts waiting for your approval: none." (a bare 0 reads as nothing to tell)."""
    return f"{label[:1].upper()}{label[1:]}: none."


def state(subject: str, words: str) -> str:
    """One state in words: "ACME is not on credit hold."."""
    return f"{subject} {words}."


def money(amount: Decimal, currency: str) -> str:
    """An amount as every fact shows it (one rounding rule: core/money.py)."""
    return format_money(amount, currency)


def units(quantity: int, uom: str = "units") -> str:
    """A quantity with its unit: "1 unit", "12 units"."""
    return f"{quantity:,} {uom.removesuffix('s') if quantity == 1 and uom == 'units' else uom}"


def percent(value: Decimal | None) -> str:
    """A percentage to one place, or "not measured" when the period had nothing to measure."""
    return "not measured" if value is None else f"{value:.1f}%"


def status_words(status: str) -> str:
    """A stored status as a person says it: "pending_approval" -> "pending approval"."""
    return STATUS_WORDS.get(status, status.replace("_", " "))


STATUS_WORDS = {"unconfirmed": "preview, not confirmed (nothing has changed)"}


def on(day: date) -> str:
    """A date as facts write it: ISO, so that it is one token the checker can match."""
    return f"on {day.isoformat()}"
