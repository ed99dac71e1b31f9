"""The actions every user tries on every entity's records, through the tools, over HTTP and over MCP."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core import clock
from core.actor import Permission
from evals.hardening.access.cells import (
    HOLD_REASON,
    NOT_APPLICABLE,
    OUT_OF_BOUNDS,
    Cell,
    in_scope,
    may,
    may_any,
    may_decide,
    may_handle_case,
    may_read_draft,
    nobody,
)
from evals.hardening.access.mcp_channel import UNKNOWN_TOOL, Mcp
from evals.hardening.access.outcomes import Web

# --- The actions ---------------------------------------------------------------------------------

ToolCall = Callable[[Cell], tuple[str, dict[str, Any]]]
HttpCall = Callable[[Web, Cell], str]
McpCall = Callable[[Mcp, Cell], str]


@dataclass(frozen=True)
class OverMcp:
    """How an action is tried over MCP when not by its own tool, and who may do it there (None: whoever the
    definitions allow)."""

    call: McpCall
    expected: Callable[[Cell], bool] | None = None


@dataclass(frozen=True)
class Action:
    name: str
    expected: Callable[[Cell], bool]
    tool: ToolCall | None  # None: no tool does this (approving is a person's act)
    http: HttpCall | None  # None with `chat`: the same tool call, asked for in the web chat
    chat: bool = False
    refusals: frozenset[str] = OUT_OF_BOUNDS  # the codes a denial must come with
    mcp: OverMcp | None = None  # None: the tool's call, sent as `tools/call` (no tool: no such path)

    @property
    def mcp_refusals(self) -> frozenset[str]:
        """Over MCP a tool the user's roles may not run is not offered at all: `unknown_tool` refuses too."""
        return self.refusals | {UNKNOWN_TOOL}

    def expected_over_mcp(self, cell: Cell) -> bool:
        chosen = self.mcp.expected if self.mcp is not None and self.mcp.expected is not None else self.expected
        return chosen(cell)

    def by_mcp(self, channel: Mcp, cell: Cell) -> str:
        """What MCP said to this cell's user: the tool's own call, the action's MCP way, or no such path."""
        if self.mcp is not None:
            return self.mcp.call(channel, cell)
        if self.tool is None:
            return NOT_APPLICABLE
        name, arguments = self.tool(cell)
        return channel.call(cell.subject.username, name, arguments)


def _order_line(cell: Cell, **extra: Any) -> dict[str, Any]:
    return {"sku": cell.place.sku, "quantity": 1, **extra}


def _sales_order(cell: Cell) -> tuple[str, dict[str, Any]]:
    # The line names its warehouse: the chat message names several, and a line without one would get a question.
    line = _order_line(cell, warehouse=cell.place.warehouse)
    return "draft_sales_order", {"customer": cell.place.customer, "lines": [line]}


def _transfer(cell: Cell) -> tuple[str, dict[str, Any]]:
    place = cell.place
    return "draft_transfer", {
        "from_warehouse": place.warehouse,
        "to_warehouse": place.second_warehouse,
        "lines": [_order_line(cell)],
    }


def _purchase_order(cell: Cell) -> tuple[str, dict[str, Any]]:
    place = cell.place
    return "draft_purchase_order", {
        "supplier": place.supplier,
        "warehouse": place.warehouse,
        "lines": [_order_line(cell)],
    }


def _receipt(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "draft_receipt", {"po_number": cell.place.open_purchase_order}


def _order_change(cell: Cell) -> tuple[str, dict[str, Any]]:
    later = (clock.today() + timedelta(days=30)).isoformat()
    return "draft_order_change", {"order_number": cell.place.order, "line_no": 1, "requested_date": later}


def _shipment(cell: Cell) -> tuple[str, dict[str, Any]]:
    order, line_no = cell.place.shippable
    return "draft_shipment", {"order_number": order, "lines": [{"line_no": line_no, "quantity": 1}]}


def _ship_over_api(web: Web, cell: Cell) -> str:
    order, line_no = cell.place.shippable
    body = {"lines": [{"line_no": line_no, "quantity": 1}], "confirm": False}
    return web.post(cell.subject.username, f"/api/orders/{order}/shipments", body)


def _cancel(cell: Cell) -> dict[str, Any]:
    order, line_no = cell.place.shippable
    return {"order_number": order, "line_no": line_no, "reason": "access check"}


def _cancel_over_api(web: Web, cell: Cell) -> str:
    body = _cancel(cell)
    order = body.pop("order_number")
    return web.post(cell.subject.username, f"/api/orders/{order}/cancel", body | {"confirm": False})


def _credit_release(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "request_credit_hold_release", {"customer": cell.place.held_customer, "reason": "payment received"}


def _assign(cell: Cell) -> tuple[str, dict[str, Any]]:
    place = cell.place
    return "draft_exception_action", {"case_number": place.case, "action": "assign", "assignee": place.manager}


def _comment(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "draft_exception_action", {"case_number": cell.place.case, "action": "comment", "text": "looked at"}


def _count(cell: Cell) -> dict[str, Any]:
    return {"sku": cell.place.sku, "warehouse": cell.place.warehouse, "counted": 1}


def _substitute(cell: Cell) -> tuple[str, dict[str, Any]]:
    order, line_no, sku = cell.place.substitutable
    return "draft_order_action", {"order_number": order, "action": "substitute", "line_no": line_no, "sku": sku}


def _expedite(cell: Cell) -> dict[str, Any]:
    return {"amount": "1.00", "carrier": "UPS", "reason": "access matrix"}


def _return_asked(cell: Cell) -> dict[str, Any]:
    order, line_no = cell.place.shipped
    return {"order_number": order, "lines": [{"line_no": line_no, "quantity": 1}], "reason": "damaged"}


def _lead_time(cell: Cell) -> dict[str, Any]:
    return {"record": "supplier", "code": cell.place.supplier, "lead_time_days": 99}  # no demo supplier takes 99


def _limit(cell: Cell) -> dict[str, Any]:
    return {"record": "customer", "code": cell.place.customer, "credit_limit": "123456"}


def _hold(cell: Cell) -> dict[str, Any]:
    return {"customer": cell.place.customer, "reason": HOLD_REASON}


def _supplier_invoice(cell: Cell) -> dict[str, Any]:
    ref = f"ACCESS-{cell.subject.username}-{cell.place.entity}"
    return {"po_number": cell.place.purchase_order, "supplier_ref": ref, "lines": [_billed_line()]}


def _billed_line() -> dict[str, Any]:
    return {"line_no": 1, "quantity": 1, "unit_price": "1.00"}


def _payment_asked(cell: Cell) -> dict[str, Any]:
    return {"customer": cell.place.customer, "amount": "1.00", "bank_reference": "ACCESS-MATRIX"}


def _stock(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "check_availability", {"sku": cell.place.sku, "warehouse": cell.place.warehouse}


def _decide(verb: str) -> HttpCall:
    body = {"comment": "not now"} if verb == "reject" else {}
    return lambda web, cell: web.post(cell.subject.username, f"/api/drafts/{cell.drafts[verb].number}/{verb}", body)


def _decide_over_mcp(verb: str) -> OverMcp:
    """What a client model told to approve would try: there is no such tool, for anyone (`nobody` may)."""
    return OverMcp(
        lambda mcp, cell: mcp.call(cell.subject.username, f"{verb}_draft", {"draft_number": cell.drafts[verb].number}),
        expected=nobody,
    )


def _others_conversation(web: Web, cell: Cell) -> str:
    thread = next(c for owner, c in cell.place.conversations.items() if owner != cell.subject.username)
    return web.get(cell.subject.username, f"/api/conversations/{thread}")


def _get(path: Callable[[Cell], str]) -> HttpCall:
    return lambda web, cell: web.get(cell.subject.username, path(cell))


def _post(path: Callable[[Cell], str], body: Callable[[Cell], dict[str, Any]]) -> HttpCall:
    return lambda web, cell: web.post(cell.subject.username, path(cell), body(cell))


ACTIONS = (
    Action("stock", in_scope, _stock, None, chat=True),
    Action(
        "credit",
        in_scope,
        lambda c: ("get_customer_credit", {"customer": c.place.customer}),
        _get(lambda c: f"/api/records/{c.place.customer}"),
    ),
    Action(
        "order",
        in_scope,
        lambda c: ("get_order_status", {"order_number": c.place.order}),
        _get(lambda c: f"/api/records/{c.place.order}"),
    ),
    Action(
        "po record",
        in_scope,
        None,
        _get(lambda c: f"/api/records/{c.place.purchase_order}"),
        mcp=OverMcp(lambda mcp, c: mcp.read(c.subject.username, f"erp://{c.place.purchase_order}")),
    ),
    Action(
        "cases",
        in_scope,
        lambda c: ("list_exceptions", {"entity": c.place.entity}),
        _get(lambda c: f"/api/exceptions?entity={c.place.entity}"),
    ),
    Action(
        "case",
        in_scope,
        lambda c: ("get_exception", {"case_number": c.place.case}),
        _get(lambda c: f"/api/exceptions/{c.place.case}"),
    ),
    Action(
        "assign case",
        may_handle_case,
        _assign,
        _post(lambda c: f"/api/exceptions/{c.place.case}/assign", lambda c: {"assignee": c.place.manager}),
    ),
    Action(
        "comment case",
        in_scope,
        _comment,
        _post(lambda c: f"/api/exceptions/{c.place.case}/comment", lambda c: {"text": "looked at"}),
    ),
    Action("draft SO", may(Permission.PLACE_ORDER), _sales_order, None, chat=True),
    Action("draft TR", may(Permission.TRANSFER), _transfer, None, chat=True),
    Action("draft PO", may(Permission.BUY), _purchase_order, None, chat=True),
    Action("change SO", may(Permission.SELL), _order_change, None, chat=True),
    Action(
        "receive PO",
        may(Permission.RECEIVE),
        _receipt,
        _post(lambda c: f"/api/purchase-orders/{c.place.open_purchase_order}/receipts", lambda c: {"confirm": False}),
    ),
    Action("release hold", in_scope, _credit_release, None, chat=True),
    Action(
        "fulfilment",
        in_scope,
        lambda c: ("get_fulfilment", {"order_number": c.place.order}),
        _get(lambda c: f"/api/orders/{c.place.order}/fulfilment"),
    ),
    Action("ship SO", may(Permission.SHIP), _shipment, _ship_over_api),
    Action(
        "substitute",
        may(Permission.SELL),
        _substitute,
        _post(
            lambda c: f"/api/orders/{c.place.substitutable[0]}/lines/{c.place.substitutable[1]}/substitute",
            lambda c: {"sku": c.place.substitutable[2], "confirm": False},
        ),
    ),
    Action(
        "expedite",
        may_any(Permission.SELL, Permission.MOVE_STOCK),
        lambda c: ("draft_order_action", {"order_number": c.place.order, "action": "expedite", **_expedite(c)}),
        _post(lambda c: f"/api/orders/{c.place.order}/charges", lambda c: {**_expedite(c), "confirm": False}),
    ),
    Action(
        "cancel SO line",
        may(Permission.SELL),
        lambda c: ("draft_order_action", {"action": "cancel", **_cancel(c)}),
        _cancel_over_api,
    ),
    Action(
        "count stock",
        may(Permission.MOVE_STOCK),
        lambda c: ("draft_stock_adjustment", _count(c)),
        _post(lambda c: "/api/stock/adjustments", lambda c: {"adjustment": _count(c), "confirm": False}),
    ),
    Action(
        "return",
        in_scope,
        lambda c: ("get_return", {"rma_number": c.place.rma}),
        _get(lambda c: f"/api/returns/{c.place.rma}"),
    ),
    Action(
        "authorise return",
        may(Permission.SELL),
        lambda c: ("draft_return", {"action": "authorise", **_return_asked(c)}),
        _post(lambda c: "/api/returns", lambda c: {**_return_asked(c), "confirm": False}),
    ),
    Action(
        "receive return",
        may(Permission.MOVE_STOCK),
        lambda c: ("draft_return", {"action": "receive", "rma_number": c.place.rma}),
        _post(lambda c: f"/api/returns/{c.place.rma}/receipt", lambda c: {"confirm": False}),
    ),
    Action("payment", in_scope, None, _get(lambda c: f"/api/payments/{c.place.payment}")),
    Action(
        "record payment",
        may(Permission.RECORD_PAYMENT),
        lambda c: ("draft_payment", {"action": "record", **_payment_asked(c)}),
        _post(lambda c: "/api/payments", lambda c: {**_payment_asked(c), "confirm": False}),
    ),
    Action(
        "reverse payment",
        may(Permission.RECORD_PAYMENT),
        lambda c: ("draft_payment", {"action": "reverse", "payment_number": c.place.payment, "reason": "access"}),
        _post(lambda c: f"/api/payments/{c.place.payment}/reversal", lambda c: {"reason": "access", "confirm": False}),
    ),
    Action(
        "group margin",
        in_scope,
        lambda c: ("get_kpis", {"view": "margin", "by": "customer", "entity": c.place.entity}),
        _get(lambda c: f"/api/reports/margin?by=customer&entity={c.place.entity}"),
    ),
    Action(
        "intercompany",
        in_scope,
        lambda c: ("get_kpis", {"view": "intercompany", "entity": c.place.entity}),
        _get(lambda c: f"/api/reports/intercompany?entity={c.place.entity}"),
    ),
    Action(
        "book supplier invoice",
        may(Permission.BOOK_SUPPLIER_INVOICE),
        lambda c: ("draft_supplier_invoice", {"action": "book", **_supplier_invoice(c)}),
        _post(lambda c: "/api/supplier-invoices", lambda c: {**_supplier_invoice(c), "confirm": False}),
    ),
    Action(
        "read draft",
        may_read_draft,
        lambda c: ("get_draft_status", {"draft_number": c.drafts["read"].number}),
        _get(lambda c: f"/api/drafts/{c.drafts['read'].number}"),
    ),
    Action(
        "change master data",
        may(Permission.EDIT_MASTER_DATA),
        lambda c: ("draft_master_data_change", _lead_time(c)),
        _post(lambda c: "/api/masterdata/changes", lambda c: {"change": _lead_time(c), "confirm": False}),
    ),
    Action(
        "change credit limit",
        may(Permission.MANAGE_CREDIT),
        lambda c: ("draft_master_data_change", _limit(c)),
        _post(
            lambda c: f"/api/customers/{c.place.customer}/credit-limit",
            lambda c: {"credit_limit": "123456", "confirm": False},
        ),
    ),
    Action(
        "credit hold",
        may(Permission.MANAGE_CREDIT),
        lambda c: ("request_credit_hold_release", {"action": "hold", **_hold(c)}),
        _post(
            lambda c: f"/api/customers/{c.place.customer}/credit-hold",
            lambda c: {"reason": HOLD_REASON, "confirm": False},
        ),
    ),
    Action(
        "read master data",
        in_scope,
        None,
        _get(lambda c: f"/api/masterdata/supplier/{c.place.supplier}"),
    ),
    Action("approve", may_decide("approve"), None, _decide("approve"), mcp=_decide_over_mcp("approve")),
    Action("reject", may_decide("reject"), None, _decide("reject"), mcp=_decide_over_mcp("reject")),
    Action("others' chat", nobody, None, _others_conversation, refusals=frozenset({"not_found"})),
)
