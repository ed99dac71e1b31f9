"""What the command-line channel shares: the console, the database, asking the core as a user, showing a draft
and confirming one as the person at the terminal."""

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from core.actor import Actor, Person
from core.db import Database, open_database
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import confirm
from core.errors import ErpError
from core.masterdata.service import load_actor

T = TypeVar("T")
console = Console()
DEFAULT_USER = "grace"
CLI_CHANNEL = "cli"


def progress_bar() -> Progress:
    """The progress bar long commands show: what is being done, a bar, done/total and the time taken."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def fail(error: ErpError) -> typer.Exit:
    """Print a refusal with its code; the caller raises the returned exit (code 1)."""
    console.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
    return typer.Exit(code=1)


def ask(user: str, query: Callable[[Session, Actor], T]) -> T:
    """Run a read as `user`; a refusal is printed with its code and the command exits 1."""
    db = open_database()
    try:
        actor = db.read(lambda s: load_actor(s, username=user))
        return db.read(lambda s: query(s, actor))
    except ErpError as error:
        raise fail(error) from None


def act(user: str, command: Callable[[Session, Actor], T]) -> T:
    """Run a command as `user` in one transaction; a refusal is printed and the command exits 1."""
    db = open_database()
    try:
        actor = db.read(lambda s: load_actor(s, username=user))
        return db.run(lambda s: command(s, actor))
    except ErpError as error:
        raise fail(error) from None


def as_person(actor: Actor) -> Person:
    """The person at the terminal. The local CLI is trusted like a signed-in session: whoever
    runs it already holds the database's credentials."""
    return Person(actor, channel=CLI_CHANNEL)


def show_draft(draft: DraftAction) -> None:
    """A draft as the terminal shows it: number, kind and status, what it changes, and the policy's decision
    (for a preview, what the policy would decide once it is confirmed)."""
    colour = {"executed": "green", "blocked": "red", "failed": "red", "rejected": "red"}.get(draft.status, "yellow")
    console.print(f"[bold]{draft.number}[/bold] {draft.kind} — [{colour}]{draft.status}[/{colour}]", highlight=False)
    console.print(draft.summary, highlight=False, markup=False)
    for line in draft.diff:
        console.print(f"  {line}", highlight=False, markup=False)
    decision = f"If confirmed: {draft.explanation}" if draft.status == DraftStatus.UNCONFIRMED else draft.explanation
    console.print(decision, highlight=False, markup=False)
    if draft.result_ref:
        console.print(f"result: {draft.result_ref}", highlight=False)
    if draft.failure_reason:
        console.print(f"[red]failed:[/red] {draft.failure_reason}", highlight=False)


def confirm_draft(db: Database, actor: Actor, number: str) -> DraftAction | None:
    """Confirm a preview as the person at the terminal and show what the policy decided; a refusal (not theirs,
    no longer unconfirmed, expired, changed) is printed with its code and nothing is confirmed."""
    try:
        draft = db.run(lambda s: confirm(s, as_person(actor), draft_number=number))
    except ErpError as error:
        console.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
        return None
    show_draft(draft)
    return draft
