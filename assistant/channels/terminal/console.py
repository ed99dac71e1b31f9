"""What the command-line channel shares: the console, the database, and asking the core as a user."""

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from core.actor import Actor, Person
from core.db import open_database
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
