"""The write gate from the terminal: draft a change and confirm its preview, see the approvals inbox,
approve or reject. The web inbox and Slack buttons run the same core functions."""

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from assistant.channels.terminal.console import DEFAULT_USER, act, as_person, ask, console, fail, show_draft
from core.actor import Actor
from core.db import open_database
from core.drafts.models import DraftAction
from core.drafts.service import (
    RequestContext,
    approvals_of,
    approve,
    cancel,
    confirm,
    draft_action,
    get_draft,
    pending_for,
    reject,
    sweep_approvals,
)
from core.errors import ErpError, InvalidInput
from core.exceptions import detect_exceptions, page_cases
from core.money import format_money
from core.planning.proposals import drafts_from_cases
from core.policy import load_policy
from core.settings import get_settings

drafts_app = typer.Typer(help="Draft changes and decide on them (the write gate).", no_args_is_help=True)
exceptions_app = typer.Typer(
    help="The exception queue: detect and list cases, open their proposed drafts.", no_args_is_help=True
)
User = Annotated[str, typer.Option(help="Act as this user.")]


@drafts_app.command("new")
def new(
    kind: Annotated[str, typer.Argument(help="sales_order, transfer, purchase_order, order_change, ...")],
    payload: Annotated[str, typer.Argument(help='The request as JSON, e.g. \'{"customer": "ACME", "lines": [...]}\'')],
    user: User = DEFAULT_USER,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")] = False,
) -> None:
    """Draft a change and show its preview; once you confirm it, the policy executes it, holds it for approval,
    or blocks it. Without --yes you are asked; answering no leaves it unconfirmed (it expires)."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as error:
        raise fail(InvalidInput(f"the request is not valid JSON: {error.msg} at column {error.colno}")) from None
    draft_and_confirm(kind, body, user, yes)


def draft_and_confirm(kind: str, body: dict[str, Any], user: str, yes: bool) -> None:
    """Draft as `user` from the terminal, show the preview, and confirm it (asked, unless `yes`)."""

    def command(s: Session, actor: Actor) -> DraftAction:
        return draft_action(s, RequestContext(actor, channel="cli"), confirmed=False, kind=kind, payload=body)

    draft = act(user, command)
    show_draft(draft)
    if yes or typer.confirm(f"Confirm {draft.number}?", default=False):
        _confirm(draft.number, user)
        return
    console.print(
        f"{draft.number} is not confirmed: nothing has changed. To confirm it before the preview expires "
        f"({get_settings().preview_ttl_minutes} min): erp-assistant drafts confirm {draft.number} --user {user}",
        highlight=False,
    )


def _confirm(number: str, user: str) -> None:
    show_draft(act(user, lambda s, actor: confirm(s, as_person(actor), draft_number=number)))


@drafts_app.command("confirm")
def confirm_command(number: Annotated[str, typer.Argument(help="e.g. DR-12")], user: User = DEFAULT_USER) -> None:
    """Confirm the preview of a draft you asked for (in a chat, say); then the policy decides on it."""
    _confirm(number, user)


@drafts_app.command()
def inbox(user: User = DEFAULT_USER) -> None:
    """Drafts waiting for an approval you could give, oldest first."""
    drafts = ask(user, lambda s, actor: pending_for(s, actor))
    if not drafts:
        console.print("nothing waits for you")
        return
    table = Table(title=f"Waiting for {user}")
    for column in ("draft", "kind", "summary", "value", "since", "why"):
        table.add_column(column)
    for d in drafts:
        value = format_money(d.amount, d.currency)
        table.add_row(d.number, d.kind, d.summary, value, f"{d.created_at:%Y-%m-%d %H:%M}", d.explanation)
    console.print(table)


@drafts_app.command()
def show(number: Annotated[str, typer.Argument(help="e.g. DR-12")], user: User = DEFAULT_USER) -> None:
    """One draft: what it does, why the policy decided so, who approved."""

    def query(s: Session, actor: Actor) -> tuple[DraftAction, list[str]]:
        draft = get_draft(s, actor, draft_number=number)
        return draft, [f"{a.verdict} by user {a.approver_id} as {a.role}: {a.comment}" for a in approvals_of(s, draft)]

    draft, decisions = ask(user, query)
    show_draft(draft)
    for line in decisions:
        console.print(f"  {line}", highlight=False, markup=False)


@drafts_app.command("approve")
def approve_command(
    number: Annotated[str, typer.Argument(help="e.g. DR-12")],
    user: User = DEFAULT_USER,
    comment: Annotated[str, typer.Option(help="Optional note for the requester.")] = "",
) -> None:
    """Approve a draft (you must hold a required role, the scope and the limit; never your own)."""
    show_draft(act(user, lambda s, actor: approve(s, as_person(actor), draft_number=number, comment=comment)))


@drafts_app.command("reject")
def reject_command(
    number: Annotated[str, typer.Argument(help="e.g. DR-12")],
    comment: Annotated[str, typer.Option(help="Why: the requester reads this.")],
    user: User = DEFAULT_USER,
) -> None:
    """Reject a draft, saying why."""
    show_draft(act(user, lambda s, actor: reject(s, as_person(actor), draft_number=number, comment=comment)))


@drafts_app.command("cancel")
def cancel_command(number: Annotated[str, typer.Argument(help="e.g. DR-12")], user: User = DEFAULT_USER) -> None:
    """Withdraw your own draft while it waits."""
    show_draft(act(user, lambda s, actor: cancel(s, RequestContext(actor, channel="cli"), draft_number=number)))


@drafts_app.command()
def sweep() -> None:
    """Escalate drafts waiting too long and expire old ones (run it from a scheduler)."""
    report = open_database().run(sweep_approvals)
    console.print(f"escalated: {', '.join(report.escalated) or '-'}; expired: {', '.join(report.expired) or '-'}")


@exceptions_app.command()
def detect() -> None:
    """Look for shortages, credit holds, price deviations and late suppliers; raise each case once."""
    cases = open_database().run(lambda s: detect_exceptions(s))
    console.print(f"{len(cases)} new case(s)" + "".join(f"\n  {c.number} {c.type}: {c.title}" for c in cases))


@exceptions_app.command("propose")
def propose(
    cases: Annotated[list[str], typer.Argument(help="Case numbers with a proposed draft, e.g. EX-12 EX-14")],
    user: User = DEFAULT_USER,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm every preview without being asked.")] = False,
) -> None:
    """Open the proposed draft of one case or several (a bulk acceptance) as your previews, then confirm each: the
    policy judges each on its own (executed, waiting for approvers, or blocked). Without --yes you are asked per
    draft; a case whose proposal cannot be opened is reported and the others go on."""
    opened = act(user, lambda s, actor: drafts_from_cases(s, RequestContext(actor, channel="cli"), case_numbers=cases))
    for each in opened:
        if each.draft is None:
            error = each.error
            console.print(f"{each.case}: [red]{error.code if error else 'error'}[/red] {error}", highlight=False)
            continue
        console.print(f"{each.case} proposes:", highlight=False)
        show_draft(each.draft)
        if yes or typer.confirm(f"Confirm {each.draft.number}?", default=False):
            _confirm(each.draft.number, user)


@exceptions_app.command("list")
def list_command(user: User = DEFAULT_USER, type: Annotated[str | None, typer.Option()] = None) -> None:
    """Open cases in your entities."""
    cases = ask(user, lambda s, actor: page_cases(s, actor, type=type).cases)
    table = Table(title="Exception cases")
    for column in ("case", "type", "severity", "status", "owner", "due", "title"):
        table.add_column(column)
    for c in cases:
        owner = c.owner_role or "-"
        table.add_row(c.number, c.type, c.severity, c.status, owner, f"{c.sla_due_at:%Y-%m-%d %H:%M}", c.title)
    console.print(table)


def policy_check() -> None:
    """Load and validate the policy file (ERP_POLICY_FILE or the default); exit 1 with the line if broken."""
    try:
        policy = load_policy()
    except ErpError as error:
        raise fail(error) from None
    console.print(f"policy '{policy.name}' is valid: {len(policy.rules)} rules, version {policy.version[:12]}")
