"""`erp-assistant briefing --user NAME`: what needs one person's attention today, as the widget and Slack show it."""

from typing import Annotated

import typer

from assistant.channels.terminal.console import DEFAULT_USER, ask, console


def briefing(
    user: Annotated[str, typer.Option(help="Whose briefing (their entities and roles).")] = DEFAULT_USER,
) -> None:
    """Approvals waiting, the cases you may handle by type, customers to chase: each a count and the top items."""
    from core.planning.briefing import briefing as briefing_of

    found = ask(user, lambda s, actor: briefing_of(s, actor))
    console.print(found.text(), highlight=False, markup=False)
