"""`erp-assistant chat --user NAME`: the assistant in a terminal, answers streamed as they are written.

A draft the assistant makes is a preview. The terminal, not the model, asks its requester to confirm it
("Confirm DR-n? [y/N]", or "yes" as the next message) and confirms it with the core as the person at the
terminal; the model never sees or decides a confirmation.
"""

import sys
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from assistant.channels.terminal.console import confirm_draft, console, fail, show_draft
from core.actor import Actor
from core.db import Database, open_database
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import get_draft
from core.errors import ErpError
from core.masterdata.service import load_actor

if TYPE_CHECKING:  # the graph and litellm load only when a chat starts, so other commands start fast
    from assistant.agent import Assistant, Event, TurnResult
    from tools.search import SearchIndex

CHAT_CHANNEL = "chat-cli"
HELP = "Type a question; say yes to confirm a preview. /new starts a new conversation, /quit (or Ctrl-D) leaves."
CONFIRMING = ("yes", "y", "confirm")  # a whole message that confirms the preview waiting in this conversation


class TerminalView:
    """Prints a turn as it happens: tool calls in one dim line each, the answer token by token. Notes the
    drafts the turn's draft tools (`writers`) made and left unconfirmed, for the terminal to ask about."""

    def __init__(self, writers: frozenset[str] = frozenset()) -> None:
        self.answering = False
        self.writers = writers
        self.drafted: list[str] = []

    def __call__(self, event: "Event") -> None:
        if event.kind == "token":
            if not self.answering:
                console.print("[bold green]assistant>[/] ", end="")
                self.answering = True
            console.file.write(event.text)
            console.file.flush()
        elif event.kind == "tool_call":
            console.print(f"[dim]  → {event.name}({escape(_brief(event.data))})[/]", highlight=False)
        elif event.outcome is not None and event.outcome.error is not None:
            console.print(f"[dim]  ✗ {event.name}: {escape(event.outcome.error.message)}[/]", highlight=False)
        elif event.outcome is not None and event.outcome.draft is not None and event.name in self.writers:
            draft = event.outcome.draft
            if draft.status == DraftStatus.UNCONFIRMED and draft.draft not in self.drafted:
                self.drafted.append(draft.draft)

    def finish(self, result: "TurnResult", seconds: float) -> None:
        if not self.answering:
            console.print(f"[bold green]assistant>[/] {escape(result.answer)}", highlight=False)
        else:
            console.file.write("\n")
        self.answering = False
        for line in turn_footer(result, seconds):
            console.print(line, highlight=False)


def turn_footer(result: "TurnResult", seconds: float) -> list[str]:
    """What a user may want to know under an answer: its sources, grounding warnings, the cost.

    A streamed answer was printed before the check ran, so each contradiction is shown here as well."""
    lines = []
    if result.grounding.unsupported_numbers:
        numbers = ", ".join(result.grounding.unsupported_numbers)
        lines.append(
            f"[yellow]  ⚠ not found in this turn's tool results: {escape(numbers)} — check before relying on it[/]"
        )
    for said in result.grounding.contradictions:
        lines.append(f"[yellow]  ⚠ contradicts this turn's records: {escape(str(said))}[/]")
    usage = result.usage
    sources = f"sources: {', '.join(result.grounding.sources)} · " if result.grounding.sources else ""
    cost = f" · ${usage.cost_usd:.4f}" if usage.cost_usd else ""
    lines.append(
        f"[dim]  {escape(sources)}{usage.model_calls} model calls · "
        f"{usage.prompt_tokens + usage.completion_tokens:,} tokens{cost} · {seconds:.1f} s[/]"
    )
    return lines


def _brief(arguments: dict[str, Any], limit: int = 100) -> str:
    text = ", ".join(f"{k}={v}" for k, v in arguments.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chat(
    user: str = typer.Option(..., "--user", "-u", help="who is asking (their roles and entities apply)"),
    conversation: str | None = typer.Option(None, "--conversation", "-c", help="resume this conversation"),
    message: str | None = typer.Option(None, "--message", "-m", help="ask one question and exit"),
    yes: bool = typer.Option(False, "--yes", "-y", help="with -m: confirm the drafts this message makes"),
) -> None:
    """Chat with the assistant as a user; answers stream, tool calls show as they run. You confirm each draft
    it previews (or not) before anything changes."""
    if yes and message is None:
        raise typer.BadParameter("goes with -m; in a chat you are asked about each preview", param_hint="--yes")
    db = open_database()
    try:
        actor = db.read(lambda s: load_actor(s, username=user))
    except ErpError as error:
        raise fail(error) from None
    assistant = build_assistant(db)
    if not _model_ready(assistant, actor):
        raise typer.Exit(code=1)
    if message is not None:
        conversation, drafted = _ask(assistant, actor, message, conversation)
        for draft in _unconfirmed(assistant.db, actor, drafted):
            show_draft(draft)
            if yes:
                confirm_draft(assistant.db, actor, draft.number)
            else:
                console.print(
                    f"{draft.number} waits for your confirmation; nothing has changed. To confirm it: "
                    f"erp-assistant drafts confirm {draft.number} --user {actor.username}",
                    highlight=False,
                )
        _resume_hint(actor, conversation)
        return
    _loop(assistant, actor, conversation)


def build_assistant(db: Database) -> "Assistant":
    """The assistant for the terminal, with the search index when one has been built."""
    from assistant.agent import Assistant
    from assistant.conversations import open_checkpointer

    return Assistant(db, open_checkpointer(), channel=CHAT_CHANNEL, search=_open_search())


def _open_search() -> "SearchIndex | None":
    """The search index if it has been built; without it item search matches words only."""
    from tools.search import open_search_index

    search = open_search_index()
    if search.is_built():
        return search
    console.print("[dim]no search index yet: item search matches words only; run `erp-assistant index`[/]")
    return None


def _model_ready(assistant: "Assistant", actor: Actor) -> bool:
    """Say plainly what is missing when the local model is not installed; warm the user's prompt prefix if it is."""
    settings = assistant.settings
    console.print(f"[dim]model: {settings.model}[/]", highlight=False)
    if not settings.is_local:
        return True
    from assistant.llm.local import LocalModelUnavailable, warm_up

    started = time.perf_counter()
    try:
        with console.status("loading the local model…"):
            warm_up(assistant.system, assistant.tools_for(actor.roles))
    except LocalModelUnavailable as error:
        console.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
        return False
    console.print(f"[dim]local model ready in {time.perf_counter() - started:.1f} s[/]")
    return True


def _ask(assistant: "Assistant", actor: Actor, text: str, conversation: str | None) -> tuple[str, list[str]]:
    """One turn, shown as it runs; the conversation and the numbers of the drafts it left unconfirmed."""
    view = TerminalView(frozenset(name for name, tool in assistant.registry.tools.items() if tool.writes))
    started = time.perf_counter()
    try:
        result = assistant.turn(actor, text, conversation_id=conversation, on_event=view)
    except ErpError as error:
        console.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
        return conversation or "", []
    view.finish(result, time.perf_counter() - started)
    return result.conversation_id, view.drafted


def _unconfirmed(db: Database, actor: Actor, numbers: list[str]) -> list[DraftAction]:
    """Those of `numbers` still waiting for confirmation, as the core has them now (a later draft of the same
    kind replaces an earlier one; a preview expires)."""
    drafts = db.read(lambda s: [get_draft(s, actor, draft_number=n) for n in numbers])
    return [d for d in drafts if d.status == DraftStatus.UNCONFIRMED]


def _answer(question: str) -> str:
    """The user's answer to a question, trimmed and lower-cased; no answer (Ctrl-D, Ctrl-C) is an empty one."""
    try:
        return console.input(question).strip().lower()
    except (EOFError, KeyboardInterrupt):
        console.print()
        return ""


def _ask_to_confirm(db: Database, actor: Actor, drafted: list[str]) -> None:
    """Show each preview the turn made and ask; "y" confirms it, anything else leaves it unconfirmed."""
    for draft in _unconfirmed(db, actor, drafted):
        show_draft(draft)
        if _answer(f"Confirm [bold]{draft.number}[/]? \\[y/N] ") in ("y", "yes"):
            confirm_draft(db, actor, draft.number)
        else:
            console.print(f"[dim]{draft.number} left unconfirmed: nothing has changed (say yes to confirm it)[/]")


def _confirm_waiting(db: Database, actor: Actor, waiting: list[str]) -> bool:
    """The user said "yes": confirm the preview of theirs this session left unconfirmed in the conversation,
    asking which when there are several. False when none waits (the message then goes to the model)."""
    drafts = _unconfirmed(db, actor, waiting)
    if not drafts:
        return False
    number = drafts[0].number
    if len(drafts) > 1:
        numbers = [d.number for d in drafts]
        chosen = _answer(f"Which one? {', '.join(numbers)} (anything else confirms none) ").upper()
        matches = [n for n in numbers if chosen in (n, n.removeprefix("DR-"))]
        if not matches:
            console.print("[dim]nothing confirmed[/]")
            return True
        number = matches[0]
    confirm_draft(db, actor, number)
    return True


def _loop(assistant: "Assistant", actor: Actor, conversation: str | None) -> None:
    console.print(f"Chatting as [bold]{actor.username}[/]. {HELP}")
    if conversation:
        for message in assistant.history(actor, conversation)[-6:]:
            console.print(f"[dim]{message['role']}> {escape(str(message['content']))}[/]", highlight=False)
    waiting: list[str] = []  # drafts this session made in the conversation, perhaps still unconfirmed
    while True:
        try:
            text = console.input("[bold]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if text in ("/quit", "/exit"):
            break
        if text == "/new":
            conversation, waiting = None, []
            console.print("[dim]new conversation[/]")
            continue
        if text.lower() in CONFIRMING and _confirm_waiting(assistant.db, actor, waiting):
            continue
        if text:
            answered, drafted = _ask(assistant, actor, text, conversation)
            conversation = answered or conversation
            waiting += drafted
            _ask_to_confirm(assistant.db, actor, drafted)
    _resume_hint(actor, conversation)


def _resume_hint(actor: Actor, conversation: str | None) -> None:
    if conversation:
        console.print(
            f"[dim]resume with: erp-assistant chat --user {actor.username} --conversation {conversation}[/]",
            highlight=False,
        )
    sys.stdout.flush()
