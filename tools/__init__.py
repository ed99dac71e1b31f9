"""Typed tools over the core, run as the calling user; `default_registry()` is what the assistant gets."""

from tools import (
    drafts,
    exceptions,
    knowledge,
    masterdata,
    order_actions,
    orders,
    payables,
    planning,
    receivables,
    reporting,
    returns,
    shipping,
    stock,
)
from tools.context import ToolContext
from tools.outcome import ToolError, ToolOutcome
from tools.registry import Registry, Tool


def default_registry() -> Registry:
    """Every tool the assistant may call. None of them approves."""
    return Registry(
        [
            *stock.TOOLS,
            *orders.TOOLS,
            *shipping.TOOLS,
            *returns.TOOLS,
            *payables.TOOLS,
            *receivables.TOOLS,
            *exceptions.TOOLS,
            *planning.TOOLS,
            *reporting.TOOLS,
            *drafts.TOOLS,
            *masterdata.TOOLS,
            *order_actions.TOOLS,
            *knowledge.TOOLS,
        ]
    )


__all__ = ["Registry", "Tool", "ToolContext", "ToolError", "ToolOutcome", "default_registry"]
