"""`erp-assistant chat --user NAME`: the assistant in a terminal, answers streamed as they are written."""

import sys
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from assistant.channels.terminal.console import console, fail
from core.actor import Actor
from core.db import Database, open_database
from core.errors import ErpError
from core.masterdata.service import load_actor

if TYPE_CHECKING:  # the graph and litellm load only when a chat starts, so other commands start fast
    from assistant.agent import Assistant, Event, TurnResult
    from tools.search import SearchIndex

CHAT_CHANNEL = "chat-cli"
HELP = "Type a question. /new starts a new conversation, /quit (or Ctrl-D) leaves."


class TerminalView:
    """Prints a turn as it happens: tool calls in one dim line each, the answer token by token."""

    def __init__(self) -> None:
        self.answering = False

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

    def finish(self, result: "TurnResult", seconds: float) -> None:
        if not self.answering:
            console.print(f"[bold green]assistant>[/] {escape(result.answer)}", highlight=False)
        else:
            console.file.write("\n")
        self.answering = False
        for line in turn_footer(result, seconds):
            console.print(line, highlight=False)


def turn_footer(result: "TurnResult", seconds: float) -> list[str]:
    """What a user may want to know under an answer: its sources, a grounding warning, the cost."""
    lines = []
    if result.grounding.unsupported_numbers:
        numbers = ", ".join(result.grounding.unsupported_numbers)
        lines.append(
            f"[yellow]  ⚠ not found in this turn's tool results: {escape(numbers)} — check before relying on it[/]"
        )
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
) -> None:
    """Chat with the assistant as a user; answers stream, tool calls show as they run."""
    db = open_database()
    try:
        actor = db.read(lambda s: load_actor(s, username=user))
    except ErpError as error:
        raise fail(error) from None
    assistant = build_assistant(db)
    if not _model_ready(assistant):
        raise typer.Exit(code=1)
    if message is not None:
        conversation = _ask(assistant, actor, message, conversation)
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


def _model_ready(assistant: "Assistant") -> bool:
    """Say plainly what is missing when the local model is not installed; warm its prompt prefix if it is."""
    settings = assistant.settings
    console.print(f"[dim]model: {settings.model}[/]", highlight=False)
    if not settings.is_local:
        return True
    from assistant.llm.local import LocalModelUnavailable, warm_up

    started = time.perf_counter()
    try:
        with console.status("loading the local model…"):
            warm_up(assistant.system, assistant.schemas)
    except LocalModelUnavailable as error:
        console.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
        return False
    console.print(f"[dim]local model ready in {time.perf_counter() - started:.1f} s[/]")
    return True


def _ask(assistant: "Assistant", actor: Actor, text: str, conversation: str | None) -> str:
    view = TerminalView()
    started = time.perf_counter()
    try:
        result = assistant.turn(actor, text, conversation_id=conversation, on_event=view)
    except ErpError as error:
        console.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
        return conversation or ""
    view.finish(result, time.perf_counter() - started)
    return result.conversation_id


def _loop(assistant: "Assistant", actor: Actor, conversation: str | None) -> None:
    console.print(f"Chatting as [bold]{actor.username}[/]. {HELP}")
    if conversation:
        for message in assistant.history(actor, conversation)[-6:]:
            console.print(f"[dim]{message['role']}> {escape(str(message['content']))}[/]", highlight=False)
    while True:
        try:
            text = console.input("[bold]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if text in ("/quit", "/exit"):
            break
        if text == "/new":
            conversation = None
            console.print("[dim]new conversation[/]")
            continue
        if text:
            conversation = _ask(assistant, actor, text, conversation) or conversation
    _resume_hint(actor, conversation)


def _resume_hint(actor: Actor, conversation: str | None) -> None:
    if conversation:
        console.print(
            f"[dim]resume with: erp-assistant chat --user {actor.username} --conversation {conversation}[/]",
            highlight=False,
        )
    sys.stdout.flush()
