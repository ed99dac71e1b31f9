"""A draft's payload as the core resolved it: the records it names, by their codes.

The model types a draft's payload in its own words: a warehouse's city ("Birmingham"), a customer's name
("ACME Industrial Supply"), a SKU in lower case, or no warehouse at all for an order line. When the draft is
previewed the core resolves each of them to one record, with the look-ups its commands use (a warehouse by
code, city or name; a customer by code or name; an item by SKU key; a supplier by code), and picks a line's
warehouse when none was named. Judging a draft against what the task asks compares those records, so a correct
draft typed with names is right, and one naming another warehouse, customer, item or quantity is still wrong.
"""

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.models import DraftAction
from core.errors import ErpError
from core.masterdata.service import get_customer, get_item, get_supplier, get_warehouse, load_actor, usernames

WAREHOUSE_FIELDS = ("warehouse", "from_warehouse", "to_warehouse")
STOCK_LINE = re.compile(r"^(?P<sku>.+?) @ (?P<warehouse>[^:]+): ")  # a preview's diff line: "V-200 @ DAL: ..."


def resolved_payload(session: Session, draft: DraftAction) -> dict[str, Any]:
    """The draft's payload with each record it names replaced by that record's code (a value the core cannot
    resolve, which a previewed draft should not hold, is left as typed). A sales order line without a warehouse
    gets the one its preview reserved at."""
    names = usernames(session, user_ids=[draft.requester_id])
    try:
        actor = load_actor(session, username=names.get(draft.requester_id, ""))
    except ErpError:  # a requester who left: nothing to resolve as
        return dict(draft.payload)
    payload = dict(draft.payload)
    for name in WAREHOUSE_FIELDS:
        payload[name] = _code(payload.get(name), lambda v: get_warehouse(session, code=v).code)
    payload["customer"] = _code(payload.get("customer"), lambda v: _customer_code(session, actor, v))
    payload["supplier"] = _code(payload.get("supplier"), lambda v: get_supplier(session, code=v).code)
    if isinstance(payload.get("lines"), list):
        reserved_at = _warehouses_by_sku(draft.diff) if draft.kind == "sales_order" else {}
        payload["lines"] = [_line(session, line, reserved_at) for line in payload["lines"]]
    return {key: value for key, value in payload.items() if key in draft.payload}


def _line(session: Session, line: Any, reserved_at: dict[str, set[str]]) -> Any:
    if not isinstance(line, dict):
        return line
    resolved = dict(line)
    resolved["sku"] = _code(line.get("sku"), lambda v: get_item(session, sku=v).sku)
    if "warehouse" in line:
        resolved["warehouse"] = _code(line["warehouse"], lambda v: get_warehouse(session, code=v).code)
        chosen = reserved_at.get(str(resolved["sku"]), set())
        if resolved["warehouse"] is None and len(chosen) == 1:
            resolved["warehouse"] = next(iter(chosen))
    return resolved


def _code(value: Any, resolve: Callable[[str], str]) -> Any:
    """The code `resolve` finds for a typed value; the value itself when it is empty or names nothing."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        return resolve(value)
    except ErpError:
        return value


def _customer_code(session: Session, actor: Actor, typed: str) -> str:
    return get_customer(session, actor, code=typed).code


def _warehouses_by_sku(diff: list[str]) -> dict[str, set[str]]:
    """The warehouses each SKU's stock changes at in a preview's diff."""
    found: dict[str, set[str]] = {}
    for line in diff:
        match = STOCK_LINE.match(line)
        if match:
            found.setdefault(match["sku"], set()).add(match["warehouse"].strip())
    return found
