"""`erp-assistant run`: the product in one command (database, demo company, search index, web service)."""

from typing import Annotated

import typer

from assistant.channels.terminal.console import console, fail
from assistant.cli.database import ensure_ready, give_demo_passwords, print_status
from assistant.cli.gate import policy_check
from assistant.cli.index import update_index
from assistant.cli.serve import start
from core.db import open_database
from core.errors import ErpError
from core.exceptions import check_routing, load_routing
from core.sales.service import first_held_order


def run(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Run the product: prepare the database (demo company and sign-ins on first run) and the search index,
    then serve the web app (chat widget, approvals inbox, exceptions board) on http://HOST:PORT."""
    policy_check()  # a broken policy or routing file stops the product before it serves anyone
    db = open_database()
    fresh = ensure_ready(db, load=True)
    if fresh:
        give_demo_passwords(db)
    try:
        db.read(lambda s: check_routing(s, load_routing()))
    except ErpError as error:
        raise fail(error) from None
    print_status(db)
    update_index(db)
    held = db.read(first_held_order)
    console.print("Sign in as any demo user (each sees only their own entities); in the chat, try:")
    console.print("  how many V-200 can we promise by Friday? · draft a transfer of 40 V-200 from DAL to ATL", end="")
    console.print(f" · why is {held} on hold?" if held is not None else "")
    console.print("A terminal chat works too: .venv/bin/erp-assistant chat --user sam")
    db.dispose()
    start(host=host, port=port, workers=1, logins=not fresh)
