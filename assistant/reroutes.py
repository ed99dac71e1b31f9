"""Re-routes: a draft call the small model sent to the wrong tool, made as the tool the request asks for.

The local model often picks a tool by a word of the request: "order 20 of them for BRAZOSHV" becomes an action on
an existing order, "send them 10 more from Dallas" a shipment, "order the missing P-240 from GULFPUMP" a transfer.
Each rule below names the model call it answers and the words that make the request another tool's; a call no rule
matches is returned as it is. The re-routed call then takes every draft's path: its arguments are checked against
the conversation (`assistant.provenance`), and a value nobody gave is asked, never invented.
"""

import json
import re
from typing import Any

from assistant.conditions import loaded
from assistant.grounding import leaves
from assistant.linking import LINE_NUMBER, Evidence, key
from core.masterdata.mentions import Linked, MentionKind, direction_written
from core.numbering import SALES_ORDER, SHIPMENT
from tools.registry import Registry


def rerouted(
    call: dict[str, Any], request: str, evidence: Evidence, found: frozenset[str], registry: Registry
) -> dict[str, Any]:
    """The call as the tool the request asks for when the model picked another one; each rule below says which
    model call it answers, and a call no rule matches is returned as it is. The rules match disjoint requests (a
    transfer's source named or not, an order named or not), so their order only matters for the line changes: a
    line moved to a warehouse is read before an order action becomes a change of the fields the model gave."""
    current = evidence.current
    call = as_explanation(as_proposal(call, request, registry), request, registry)
    call = as_sale(as_purchase_order(as_transfer(call, evidence, registry), current, registry), current, registry)
    call = as_warehouse_change(call, current, registry)
    return as_line_change(as_new_order(call, current, registry, found), current, registry)


def returned_this_turn(messages: list[dict[str, Any]]) -> frozenset[str]:
    """The keys of the values this turn's tool results returned (the SKUs a find_items gave): what a call may take
    from a look-up made for the request being answered."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    found: set[str] = set()
    for message in messages[users[-1] + 1 if users else 0 :]:
        if message["role"] != "tool":
            continue
        try:
            data = json.loads(str(message.get("content") or ""))
        except json.JSONDecodeError:
            continue
        found |= {key(value) for _, value in leaves(data) if isinstance(value, str)}
    return frozenset(found)


# "Accept the proposed transfer in EX-16", "go ahead with what case 16 proposes": the user takes a finding's
# proposal. The draft is the proposal itself (`draft_from_finding`), never one the model rebuilt from the case's
# words: a rebuilt transfer could differ from what the user read, or miss its quantities.
ACCEPT_WORDS = re.compile(r"\b(?:accept\w*|go ahead|take|propos\w*|do what)\b", re.IGNORECASE)
CASE_NUMBER = re.compile(r"\b(?:EX-?\s?|case\s+(?:no\.?\s*|number\s+|#)?)(\d{1,9})\b", re.IGNORECASE)
REBUILT_PROPOSALS = frozenset(
    {"draft_transfer", "draft_purchase_order", "draft_order_change", "draft_transfer_move", "draft_exception_action"}
)
PROPOSAL_TOOL = "draft_from_finding"


def as_proposal(call: dict[str, Any], request: str, registry: Registry) -> dict[str, Any]:
    """The call as the proposal's draft when the request takes one case's proposal and the model drafted it anew."""
    cases = set(CASE_NUMBER.findall(request))
    if (
        call["function"]["name"] not in REBUILT_PROPOSALS
        or PROPOSAL_TOOL not in registry.tools
        or len(cases) != 1
        or ACCEPT_WORDS.search(request) is None
    ):
        return call
    arguments = json.dumps({"case_number": f"EX-{cases.pop()}"})
    return {**call, "function": {"name": PROPOSAL_TOOL, "arguments": arguments}}


# "Why do you propose the PO in EX-15?", "explain case 15": a question why a case stands is its explanation (the
# evidence with its figures, the value at risk, the priority's factors and the proposal), not the case's record.
WHY_WORDS = re.compile(r"\b(?:why|explain\w*|reasons?|justif\w*|behind)\b", re.IGNORECASE)
EXPLAIN_TOOL = "explain_finding"


def as_explanation(call: dict[str, Any], request: str, registry: Registry) -> dict[str, Any]:
    """A look-up of a case (get_exception) as its explanation when the request asks why."""
    if call["function"]["name"] != "get_exception" or EXPLAIN_TOOL not in registry.tools:
        return call
    if WHY_WORDS.search(request) is None:
        return call
    return {**call, "function": {**call["function"], "name": EXPLAIN_TOOL}}


# "Order 20 V-200 for BRAZOSHV from Reno", "draft 10 FT-200 from Birmingham for PEAKPIPE", "order 50 V-210 from
# KEYSTONE into Dallas": a request that names one customer (or one supplier), counts of items, and no existing order
# asks for a new order. A small model often reaches for a tool of an existing order (an order action, a shipment, a
# line change) on the verb "order", and would then ask "which order?". The call becomes the new order's, its lines
# the items the message counts; the customer, counts and warehouse are then filled from the words, or asked, as for
# any draft. The item may also be one this turn looked up ("Find the 1/2 inch brass ball valve and order 50 from
# KEYSTONE into Dallas": the words name no SKU, find_items gave V-210): the line is then the SKU the model put in its
# call when this turn's results returned it, with the one count the words give. A request to ship, cancel or change
# something is left to its own tool (and its question).
EXISTING_ORDER_TOOLS = frozenset({"draft_order_action", "draft_shipment", "draft_order_change"})
NEW_ORDER_TOOLS = {MentionKind.CUSTOMER: "draft_sales_order", MentionKind.SUPPLIER: "draft_purchase_order"}
EXISTING_ORDER_WORDS = re.compile(
    r"\b(?:ship\w*|deliver\w*|send\w*|cancel\w*|chang\w*|switch\w*|mov\w*|expedit\w*|reallocat\w*|substitut\w*"
    r"|return\w*|add\w*|increas\w*|reduc\w*|decreas\w*|line)\b",
    re.IGNORECASE,
)


def as_new_order(
    call: dict[str, Any], current: Linked | None, registry: Registry, found: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The call as a new sales (or purchase) order's when the message asks for one and the model picked a tool of
    an existing order (see above); `found` is what this turn's tool results returned."""
    if call["function"]["name"] not in EXISTING_ORDER_TOOLS or current is None or current.of(MentionKind.DOCUMENT):
        return call
    if EXISTING_ORDER_WORDS.search(current.text):
        return call
    parties = [kind for kind in NEW_ORDER_TOOLS if current.of(kind)]
    if len(parties) != 1 or NEW_ORDER_TOOLS[parties[0]] not in registry.tools:
        return call
    lines = _counted_lines(current) or _looked_up_lines(_arguments_of(call), current, found)
    if not lines:
        return call
    return {**call, "function": {"name": NEW_ORDER_TOOLS[parties[0]], "arguments": json.dumps({"lines": lines})}}


def _counted_lines(current: Linked) -> list[dict[str, Any]]:
    """A line for each item the message names and counts ("order 20 V-200"); the counts are filled from the words."""
    counted = [
        m.ids[0] for m in current.of(MentionKind.ITEM) if m.ids and not m.ambiguous and current.quantities_of(m.ids[0])
    ]
    return [{"sku": sku} for sku in dict.fromkeys(counted)]


def _looked_up_lines(arguments: dict[str, Any], current: Linked, found: frozenset[str]) -> list[dict[str, Any]]:
    """The one line of an item this turn looked up: the SKU of the model's call that this turn's results returned,
    with the only count the words give. None when the call names no such SKU, or several, or the words no count."""
    skus = {sku for sku in _skus_of(arguments) if key(sku) in found}
    count = _count_for(current, None)
    return [{"sku": skus.pop(), "quantity": count}] if len(skus) == 1 and count is not None else []


def _skus_of(arguments: dict[str, Any]) -> list[str]:
    """The SKUs a call names: its `sku` and its lines'."""
    lines = arguments.get("lines")
    written = [arguments.get("sku")] + [ln.get("sku") for ln in lines or [] if isinstance(ln, dict)]
    return [str(sku) for sku in written if sku]


def _count_for(current: Linked, sku: str | None) -> int | None:
    """The one count the message gives an item: written with it ("10 V-200"), else the only count it gives at all
    ("send them 10 more"); None when it gives none or several."""
    written = set(current.quantities_of(sku)) if sku else set()
    counts = written or {m.number for m in current.of(MentionKind.QUANTITY) if m.number is not None}
    return counts.pop() if len(counts) == 1 else None


def _arguments_of(call: dict[str, Any]) -> dict[str, Any]:
    return loaded(call["function"]["arguments"])


# "Change SO-2253 line 1 to 20 units", "make line 2 of SO-2258 ship from Dallas": a change to a line's quantity,
# warehouse or date. The model may take it for an order action (substitute, reallocate) without what defines one: a
# substitute names the new item, a reallocation the order that gets the stock. With neither in the message, the call
# becomes the line change, with the order, line, quantity and warehouse the model gave (checked as any draft's).
LINE_ACTIONS = frozenset({"substitute", "reallocate"})
LINE_CHANGE_TOOL = "draft_order_change"
LINE_CHANGE_FIELDS = ("order_number", "line_no", "quantity", "warehouse", "requested_date")


def as_line_change(call: dict[str, Any], current: Linked | None, registry: Registry) -> dict[str, Any]:
    """The call as a line change when the model made it an order action the message gives nothing for."""
    if call["function"]["name"] != "draft_order_action" or current is None or LINE_CHANGE_TOOL not in registry.tools:
        return call
    arguments = _arguments_of(call)
    if arguments.get("action") not in LINE_ACTIONS or current.of(MentionKind.ITEM):
        return call
    if len(current.of(MentionKind.DOCUMENT)) != 1:
        return call  # another order named: a reallocation's target, perhaps
    changed = {k: arguments[k] for k in LINE_CHANGE_FIELDS if arguments.get(k) is not None}
    return {**call, "function": {"name": LINE_CHANGE_TOOL, "arguments": json.dumps(changed)}}


# "How many V-200 does Manchester have free? Send them 10 more from Dallas", "v200 free at MAN? and transfer 10 DAL
# -> MAN": stock sent from one of our warehouses to another is a transfer. The model drafted a shipment on "send" or
# "ship", and a shipment asks "which order (e.g. SO-1042)?" of a request that names none. The call becomes the
# transfer when the message names no order or shipment (nor did the model take one from the conversation), no
# customer, one warehouse the stock leaves ("from Dallas", "DAL ->"), another warehouse, and a count. The other
# warehouse is the destination when it is the only one written as such ("to Manchester") or the only other one named
# ("Manchester" in the earlier clause); otherwise the transfer's own question asks where to. The line is the item the
# message names, with its count; an item named with doubt is asked, as for any draft.
TRANSFER_TOOL = "draft_transfer"
ORDER_PREFIXES = frozenset({SALES_ORDER.prefix, SHIPMENT.prefix})


def as_transfer(call: dict[str, Any], evidence: Evidence, registry: Registry) -> dict[str, Any]:
    """The call as a transfer when the model drafted a shipment of stock the message sends between two of our
    warehouses (see above)."""
    current = evidence.current
    if call["function"]["name"] != "draft_shipment" or current is None or TRANSFER_TOOL not in registry.tools:
        return call
    order = _arguments_of(call).get("order_number")
    if _names_an_order(current) or current.of(MentionKind.CUSTOMER) or (order and evidence.has_key(order)):
        return call
    places = _warehouse_ways(current)
    sources = {code for code, way in places if way == "from"}
    others = {code for code, _ in places} - sources
    if len(sources) != 1 or not others or not current.of(MentionKind.QUANTITY):
        return call
    towards = {code for code, way in places if way == "to"} - sources
    destination = towards or others
    transfer: dict[str, Any] = {"from_warehouse": sources.pop()}
    if len(destination) == 1:
        transfer["to_warehouse"] = destination.pop()
    transfer["lines"] = _lines_named(current)
    return {**call, "function": {"name": TRANSFER_TOOL, "arguments": json.dumps(transfer)}}


def _names_an_order(current: Linked) -> bool:
    """The message names a sales order or a shipment, or a document it could not find (which may be one)."""
    return any(not m.ids or m.ids[0].split("-")[0] in ORDER_PREFIXES for m in current.of(MentionKind.DOCUMENT))


# "Check PEAKPIPE has room on their credit and draft 10 FT-200 from Birmingham for them": stock sent from a warehouse
# to a customer is a sale. The model drafted a transfer on "from Birmingham", which asks "to which warehouse?". The
# call becomes the sales order when the message names one customer, no supplier, and no warehouse the stock goes to
# (only the one it ships from); the lines keep the call's items and counts, shipped from that warehouse.
def as_sale(call: dict[str, Any], current: Linked | None, registry: Registry) -> dict[str, Any]:
    """The call as a sales order when the model drafted a transfer of stock the message sells to a customer."""
    if call["function"]["name"] != TRANSFER_TOOL or current is None or SALES_TOOL not in registry.tools:
        return call
    customer = current.only_named(MentionKind.CUSTOMER)
    places = _warehouse_ways(current)
    if customer is None or current.of(MentionKind.SUPPLIER) or any(way == "to" for _, way in places):
        return call
    arguments = loaded(call["function"]["arguments"])
    source = arguments.get("from_warehouse") or (places[0][0] if len(places) == 1 else None)
    named = {key(code) for code, _ in places} - {key(source or "")}
    if key(arguments.get("to_warehouse") or "") in named:
        return call  # a warehouse the message names is where it goes: a transfer ("to BRAZOSPL" is not one)
    lines = [
        {k: ln[k] for k in ("sku", "quantity") if ln.get(k) is not None} | ({"warehouse": source} if source else {})
        for ln in arguments.get("lines") or []
        if isinstance(ln, dict)
    ]
    order = {"customer": customer, "lines": lines or _lines_named(current)}
    return {**call, "function": {"name": SALES_TOOL, "arguments": json.dumps(order)}}


def _warehouse_ways(current: Linked) -> list[tuple[str, str | None]]:
    """Each warehouse the message names without doubt, with the way its words send stock ("from", "to" or None)."""
    return [(m.ids[0], direction_written(current, m)) for m in current.of(MentionKind.WAREHOUSE) if m.ids]


def _lines_named(current: Linked) -> list[dict[str, Any]]:
    """A line for each item the message names without doubt, with its count when the words give one; one line
    with the count alone when the item is named with doubt or not at all (the item is then asked)."""
    skus = list(dict.fromkeys(m.ids[0] for m in current.of(MentionKind.ITEM) if m.ids and not m.ambiguous))
    lines: list[dict[str, Any]] = [{"sku": sku} for sku in skus] or [{}]
    if len(lines) == 1 and (count := _count_for(current, skus[0] if skus else None)) is not None:
        lines[0]["quantity"] = count
    return lines


# "EX-4: order the missing P-240 from GULFPUMP into Atlanta", "order 40 V-210 from KEYSTONE into Reno": stock bought
# from a supplier into a warehouse is a purchase order. The model drafted a transfer (`from_warehouse: "KEYSTONE"`)
# and then asked "from which warehouse?". The call becomes the purchase order when the message names a supplier, as
# where the stock comes from ("from GULFPUMP") or with a word of buying ("order", "buy", "PO"), and no warehouse the
# stock leaves, nor two warehouses (a transfer's). Its lines are the call's items and counts, else the items named;
# its supplier and warehouse the words' (the only warehouse named, else the call's destination). Everything is
# checked as any draft's: a count nobody gave is asked, never invented; one an earlier tool result gave stands.
# "Order 100 V-200 from KEYSTONE" is the same: the model drafted a sales order to KEYSTONE as a customer ("I don't
# know who KEYSTONE is"); with a supplier and no customer named, it is the purchase order, and its warehouse is asked.
PURCHASE_TOOL = "draft_purchase_order"
SALES_TOOL = "draft_sales_order"
BUYING_WORDS = re.compile(
    r"\b(?:order\w*|buy\w*|bought|purchas\w*|PO|procur\w*|re-?order\w*|restock\w*)\b", re.IGNORECASE
)


def as_purchase_order(call: dict[str, Any], current: Linked | None, registry: Registry) -> dict[str, Any]:
    """The call as a purchase order when the model drafted a transfer of stock the message buys from a supplier
    (see above)."""
    name = call["function"]["name"]
    if name not in (TRANSFER_TOOL, SALES_TOOL) or current is None or PURCHASE_TOOL not in registry.tools:
        return call
    suppliers = current.of(MentionKind.SUPPLIER)
    bought = BUYING_WORDS.search(current.text) or any(direction_written(current, m) == "from" for m in suppliers)
    places = _warehouse_ways(current)
    if not suppliers or not bought or any(way == "from" for _, way in places) or len({c for c, _ in places}) > 1:
        return call
    if name == SALES_TOOL and current.of(MentionKind.CUSTOMER):
        return call  # a customer named: a sale, whatever supplier the message also names
    arguments = _arguments_of(call)
    order: dict[str, Any] = {}
    supplier = current.only_named(MentionKind.SUPPLIER)
    if supplier is not None:
        order["supplier"] = supplier
    warehouse = places[0][0] if places else arguments.get("to_warehouse")  # a sale's line warehouse: where it ships
    if warehouse:
        order["warehouse"] = warehouse
    lines = [
        {k: ln[k] for k in ("sku", "quantity") if ln.get(k) is not None}
        for ln in arguments.get("lines") or []
        if isinstance(ln, dict) and ln.get("sku")
    ]
    order["lines"] = lines or _lines_named(current)
    return {**call, "function": {"name": PURCHASE_TOOL, "arguments": json.dumps(order)}}


# "Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas", "then move the line to DAL": a line
# of an order moved to another warehouse is a change of that line. The model drafted the shipment (or an order action)
# on "ship from", which asks what a shipment needs, or is refused to a user who may not ship. The call becomes the
# line change when the message names one sales order, one line, a verb of change whose object is the line, after it
# one warehouse written with its direction ("ship from Dallas", "to DAL"), and no item (stock of an item moved to
# cover a line is a transfer). "Ship SO-2258 line 1 from ATL today" changes nothing: it stays a shipment.
LINE_MOVE_CALLS = frozenset({"draft_shipment", "draft_order_action"})
LINE_MOVED = re.compile(
    r"\b(?:switch|chang|mov|mak|set|put|reassign|re-?rout)\w*\s+(?:\S+\s+){0,3}?(?:line|ln)\b", re.IGNORECASE
)


def as_warehouse_change(call: dict[str, Any], current: Linked | None, registry: Registry) -> dict[str, Any]:
    """The call as a change of a line's warehouse when the model made it a shipment or an order action of a
    message that moves a named line of a named order to a warehouse (see above)."""
    if call["function"]["name"] not in LINE_MOVE_CALLS or current is None or LINE_CHANGE_TOOL not in registry.tools:
        return call
    documents = current.of(MentionKind.DOCUMENT)
    moved = LINE_MOVED.search(current.text)
    lines = set(LINE_NUMBER.findall(current.text))
    if moved is None or len(documents) != 1 or len(lines) != 1 or current.of(MentionKind.ITEM):
        return call
    order = documents[0].ids[0] if documents[0].ids else ""
    after = [m for m in current.of(MentionKind.WAREHOUSE) if m.start >= moved.end()]
    targets = {i for m in after for i in (*m.ids, *m.candidates)}
    aimed = all(direction_written(current, m) is not None for m in after)  # "to ship from Dallas", not "or Reno"
    if not order.startswith(f"{SALES_ORDER.prefix}-") or len(targets) != 1 or not aimed:
        return call
    change = {"order_number": order, "line_no": int(lines.pop()), "warehouse": targets.pop()}
    return {**call, "function": {"name": LINE_CHANGE_TOOL, "arguments": json.dumps(change)}}
