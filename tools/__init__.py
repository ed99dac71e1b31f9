"""Typed tools over the core, run as the calling user; `default_registry()` is what the assistant gets."""

from tools import drafts, exceptions, knowledge, orders, reporting, shipping, stock
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
            *exceptions.TOOLS,
            *reporting.TOOLS,
            *drafts.TOOLS,
            *knowledge.TOOLS,
        ]
    )


__all__ = ["Registry", "Tool", "ToolContext", "ToolError", "ToolOutcome", "default_registry"]
