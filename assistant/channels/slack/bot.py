"""The Slack bot: slack-bolt's async app in the web service at /slack/events (HTTP mode).

Slack must hear back within 3 seconds, so every listener acknowledges at once and does the work
in a background task: a "working…" message is posted and later replaced by the answer. A Slack
user acts only as the ERP user an admin linked them to; button clicks carry only a draft number
and are decided by the core as the clicking user, exactly as on the web.

A draft the turn made is shown in the answer as a preview with Confirm and Cancel: only its requester's
click confirms it (core `confirm`, as that person), and only then are its approvers asked, if it needs any.
"""

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from starlette.concurrency import run_in_threadpool

from assistant.channels.slack.blocks import (
    Block,
    answer_blocks,
    briefing_blocks,
    card_of,
    decided_block,
    draft_blocks,
    preview_blocks,
    reject_modal,
    replace_card,
)
from assistant.channels.web import views
from assistant.channels.web.schemas import DraftCard
from assistant.channels.web.services import Services
from assistant.channels.web.turns import TurnRequest
from core import clock
from core.actor import Actor, Person
from core.conversations import RateLimited, TurnInProgress, begin_turn, external_key_of, open_conversation
from core.drafts.inbox import awaiting_approval
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import (
    RequestContext,
    approve,
    cancel,
    confirm,
    decision_blocker,
    get_draft,
    reject,
    require_rejection_comment,
)
from core.errors import ErpError, InvalidInput
from core.identity import account_of, linked_accounts, linked_user, username_for_email
from core.masterdata.service import display_names
from core.planning.briefing import Briefing, briefing, claim_briefing_round
from core.settings import Settings, get_settings

log = logging.getLogger("erp.slack")
CHANNEL = "slack"
MENTION = re.compile(r"<@[A-Z0-9]+>\s*")
SEEN_EVENTS = 2000
BRIEFING_WINDOW = timedelta(minutes=30)  # a service started later than this after the hour sends none that day
BRIEFING_CHECK_S = 60
MAX_BLOCKS = 50  # Slack refuses a message with more


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str
    approvals_channel: str | None = None  # post approval requests here too (a channel id)
    web_url: str = "http://127.0.0.1:8000"  # where record links point
    api_url: str | None = None  # another Slack Web API base (tests use a local fake)


def slack_config(settings: Settings | None = None) -> SlackConfig | None:
    """The bot's configuration from the settings, or None when the bot token or signing secret is missing."""
    settings = settings or get_settings()
    token, secret = settings.slack_bot_token, settings.slack_signing_secret
    if not token or not secret:
        return None
    return SlackConfig(
        bot_token=token,
        signing_secret=secret,
        approvals_channel=settings.slack_approvals_channel,
        web_url=settings.web_url,
        api_url=settings.slack_api_url,
    )


@dataclass(frozen=True)
class Place:
    """Where a conversation lives in Slack: a channel and the thread to answer in (None: the DM itself)."""

    team: str
    channel: str
    thread_ts: str | None

    @property
    def key(self) -> str:
        return f"slack:{self.team}:{self.channel}:{self.thread_ts or 'dm'}"


class SlackBot:
    """One workspace's bot over the web service's database, assistant and model queue."""

    def __init__(self, services: Services, config: SlackConfig) -> None:
        self.services = services
        self.config = config
        client = AsyncWebClient(token=config.bot_token, base_url=config.api_url or AsyncWebClient.BASE_URL)
        self.app = AsyncApp(signing_secret=config.signing_secret, client=client)
        self.tasks: set[asyncio.Task[None]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._register()
        # A draft confirmed elsewhere and told to the listeners is announced too; `announce` asks approvers
        # only for a draft that waits for approval, never for an unconfirmed preview.
        services.runner.draft_listeners.append(self.announce)

    @property
    def client(self) -> AsyncWebClient:
        return self.app.client

    # -- plumbing ------------------------------------------------------------------------------

    def _register(self) -> None:
        self.app.middleware(self._skip_retries)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command("/erp")(self._on_command)
        self.app.action("draft_approve")(self._on_approve)
        self.app.action("draft_reject")(self._on_reject)
        self.app.action("draft_confirm")(self._on_confirm)
        self.app.action("draft_cancel")(self._on_cancel)
        self.app.view("draft_reject_modal")(self._on_reject_submitted)

    async def _skip_retries(
        self, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """Slack resends an event it thinks we missed; we already took it, so answer once only."""
        event_id = str(req.body.get("event_id", "")) if isinstance(req.body, dict) else ""
        if req.headers.get("x-slack-retry-num") or (event_id and event_id in self._seen):
            return BoltResponse(status=200, body="")
        if event_id:
            self._seen[event_id] = None
            while len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        return await next()

    def _later(self, work: Awaitable[None]) -> None:
        """Run after the acknowledgement; failures are logged, never lost silently."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("Slack work failed")

        task = asyncio.create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for the background work (tests; a graceful shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def _db(self, work: Callable[[Any], Any], *, write: bool = False) -> Any:
        run = self.services.db.run if write else self.services.db.read
        return await run_in_threadpool(run, work)

    # -- questions -----------------------------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        place = Place(body.get("team_id", ""), event["channel"], event.get("thread_ts") or event["ts"])
        self._later(self.answer(event["user"], place, MENTION.sub("", event.get("text", "")).strip()))

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # channel chatter without a mention, edits, and our own messages are not questions
        place = Place(body.get("team_id", ""), event["channel"], event.get("thread_ts"))
        self._later(self.answer(event["user"], place, event.get("text", "").strip()))

    async def _on_command(self, ack: Callable[..., Awaitable[None]], command: dict[str, Any]) -> None:
        question = command.get("text", "").strip()
        if not question:
            await ack("Ask me something, e.g. `/erp how many V-200 can we promise in Atlanta?`")
            return
        await ack()
        self._later(self._answer_command(command, question))

    async def _answer_command(self, command: dict[str, Any], question: str) -> None:
        user, channel = command["user_id"], command["channel_id"]
        if await self._actor(user, channel) is None:
            return
        posted = await self.client.chat_postMessage(channel=channel, text=f"<@{user}> asked: {question}")
        await self.answer(user, Place(command.get("team_id", ""), channel, str(posted["ts"])), question)

    async def _actor(self, slack_user: str, channel: str) -> Actor | None:
        """The ERP user this Slack user speaks for; an unlinked user is told how to be linked, and nothing else."""
        actor: Actor | None = await self._db(lambda s: linked_user(s, channel=CHANNEL, external_id=slack_user))
        if actor is None:
            await self.client.chat_postEphemeral(
                channel=channel, user=slack_user, text=await self._how_to_link(slack_user)
            )
        return actor

    async def _how_to_link(self, slack_user: str) -> str:
        hint = ""
        try:
            profile = (await self.client.users_info(user=slack_user))["user"]["profile"]
            email = str(profile.get("email") or "")
            match = await self._db(lambda s: username_for_email(s, email=email)) if email else None
            if match:
                command = f"erp-assistant slack link {slack_user} {match}"
                hint = f" Your Slack email matches the ERP user `{match}`: an admin can run `{command}`."
        except Exception:  # the profile is only a suggestion
            log.info("no Slack profile for %s", slack_user)
        return (
            "I can't answer yet: your Slack account is not linked to an ERP user. "
            f"Ask an ERP administrator to link it (your Slack id is `{slack_user}`).{hint}"
        )

    async def answer(self, slack_user: str, place: Place, text: str) -> None:
        """Run one turn as the linked user in the conversation of this thread; post 'working…', then the answer."""
        actor = await self._actor(slack_user, place.channel)
        if actor is None or not text:
            return
        try:
            conversation = await self._db(
                lambda s: open_conversation(s, actor, channel=CHANNEL, external_key=place.key), write=True
            )
            turn_id = await self._db(
                lambda s: begin_turn(s, actor, conversation_id=conversation.id, text=text), write=True
            )
        except (TurnInProgress, RateLimited) as busy:
            await self._say(place, busy.message)
            return
        except ErpError as refused:
            await self._say(place, f"I can't take that: {refused.message}")
            return
        working = await self._say(place, "working…")
        try:
            result, drafted = await self.services.runner.complete(
                TurnRequest(actor, conversation.id, text, turn_id, CHANNEL)
            )
            cards = await self._db(lambda s: _previews(s, actor, drafted))
            previews = [b for card in cards for b in preview_blocks(card, self.config.web_url, slack_user)]
            said = answer_blocks(result.answer, self.config.web_url)
            blocks = [*said[: max(1, MAX_BLOCKS - len(previews))], *previews]  # the cards, whatever the length
            await self.client.chat_update(channel=place.channel, ts=working, text=result.answer[:3000], blocks=blocks)
        except Exception:
            log.exception("Slack turn failed")
            await self.client.chat_update(
                channel=place.channel, ts=working, text="Sorry, that failed on our side; please ask again."
            )

    async def _say(self, place: Place, text: str) -> str:
        kwargs: dict[str, Any] = {"thread_ts": place.thread_ts} if place.thread_ts else {}
        posted = await self.client.chat_postMessage(channel=place.channel, text=text, **kwargs)
        return str(posted["ts"])

    # -- confirming a preview ------------------------------------------------------------------

    async def _on_confirm(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._later(self._settle_preview(body, "confirm"))

    async def _on_cancel(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._later(self._settle_preview(body, "cancel"))

    async def _settle_preview(self, body: dict[str, Any], verb: str) -> None:
        """Confirm or cancel a preview as the clicking user; the core lets only its requester do either, so
        anyone else is told why in a message only they see, and nothing changes. A confirmed draft that
        needs approval is announced to its approvers now, not before."""
        slack_user, channel, ts = body["user"]["id"], body["channel"]["id"], body["message"]["ts"]
        number = str(body["actions"][0]["value"])
        actor = await self._actor(slack_user, channel)
        if actor is None:
            return

        def act(s: Any) -> DraftAction:
            if verb == "confirm":
                return confirm(s, Person(actor, CHANNEL), draft_number=number)
            return cancel(s, RequestContext(actor, CHANNEL), draft_number=number)

        try:
            draft = await self._db(act, write=True)
        except ErpError as refused:
            await self.client.chat_postEphemeral(
                channel=channel, user=slack_user, text=f"You can't {verb} {number}: {refused.message}"
            )
            return
        card, who_name, _ = await self._db(lambda s: self._after(s, actor, draft))
        done = "Confirmed" if verb == "confirm" else "Cancelled"
        line = f"{done} by {who_name} at {datetime.now():%H:%M} — {_confirmed(draft, card.waiting_for)}"
        shown: list[Block] = list(body["message"].get("blocks") or [])
        updated = card_of(draft.number, [*draft_blocks(card, self.config.web_url, buttons=False), decided_block(line)])
        blocks = replace_card(shown, draft.number, updated)
        await self.client.chat_update(channel=channel, ts=ts, text=line, blocks=blocks)
        if draft.status == DraftStatus.PENDING_APPROVAL:
            await self.announce(draft.number)

    # -- the daily briefing ------------------------------------------------------------------------

    async def send_briefings(self, day: date | None = None) -> list[str]:
        """DM every linked user their briefing (someone with nothing to attend to gets none); the users sent to."""

        def gather(s: Any) -> list[tuple[str, Briefing]]:
            return [(sid, briefing(s, actor, today=day)) for sid, actor in linked_accounts(s, channel=CHANNEL)]

        sent = []
        for slack_user, found in await self._db(gather):
            if found.empty:
                continue
            blocks = briefing_blocks(found, self.config.web_url)
            await self.client.chat_postMessage(channel=slack_user, text=found.headline, blocks=blocks)
            sent.append(slack_user)
        log.info("briefings sent by Slack DM: %d", len(sent))
        return sent

    async def briefing_round(self, day: date) -> list[str]:
        """The day's briefings, sent if this worker claims the day's round (else nobody is sent anything again)."""
        if not await self._db(lambda s: claim_briefing_round(s, channel=CHANNEL, day=day), write=True):
            return []
        return await self.send_briefings(day)

    async def briefing_loop(self, at: time) -> None:
        """Send the briefings once a day at `at` (the service's clock, UTC) until cancelled; of several workers (or
        a restart) the first to claim the day's round sends it."""
        last: date | None = None
        while True:
            now = clock.now()
            if briefing_due(now, at, last):
                last = now.date()
                try:
                    await self.briefing_round(last)
                except Exception:  # a failed round is logged; tomorrow's still goes out
                    log.exception("the Slack briefings of %s failed", last)
            await asyncio.sleep(BRIEFING_CHECK_S)

    # -- approvals -----------------------------------------------------------------------------

    async def announce(self, number: str) -> None:
        """A draft waits for approval: ask every linked approver who may decide it (and the approvals channel)."""

        def who(s: Any) -> tuple[list[str], Any]:
            draft = awaiting_approval(s, draft_number=number)
            if draft is None:
                return [], None
            approvers = [
                sid for sid, actor in linked_accounts(s, channel=CHANNEL) if decision_blocker(s, actor, draft) is None
            ]
            return approvers, views.cards(s, [draft])[0]

        approvers, card = await self._db(who)
        if card is None:
            return
        places = approvers + ([self.config.approvals_channel] if self.config.approvals_channel else [])
        blocks = draft_blocks(card, self.config.web_url, buttons=True)
        for target in places:
            await self.client.chat_postMessage(
                channel=target, text=f"{card.number} waits for your approval: {card.summary}", blocks=blocks
            )

    async def _on_approve(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._later(self._decide(body, "approve", ""))

    async def _on_reject(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        number = body["actions"][0]["value"]
        metadata = json.dumps({"number": number, "channel": body["channel"]["id"], "ts": body["message"]["ts"]})
        await self.client.views_open(trigger_id=body["trigger_id"], view=reject_modal(number, metadata))

    async def _on_reject_submitted(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        comment = view["state"]["values"]["comment"]["text"].get("value") or ""
        try:
            require_rejection_comment(comment)
        except InvalidInput as missing:
            await ack(response_action="errors", errors={"comment": missing.message})
            return
        await ack()
        meta = json.loads(view["private_metadata"])
        clicked = {
            "user": body["user"],
            "actions": [{"value": meta["number"]}],
            "channel": {"id": meta["channel"]},
            "message": {"ts": meta["ts"]},
        }
        self._later(self._decide(clicked, "reject", comment.strip()))

    async def _decide(self, body: dict[str, Any], verdict: str, comment: str) -> None:
        """Approve or reject as the clicking user; the core re-checks who they are and what they may do."""
        slack_user, channel, ts = body["user"]["id"], body["channel"]["id"], body["message"]["ts"]
        number = str(body["actions"][0]["value"])
        actor = await self._actor(slack_user, channel)
        if actor is None:
            return
        decide = approve if verdict == "approve" else reject
        try:
            draft = await self._db(
                lambda s: decide(s, Person(actor, CHANNEL), draft_number=number, comment=comment), write=True
            )
        except ErpError as refused:
            await self.client.chat_postEphemeral(
                channel=channel, user=slack_user, text=f"You can't {verdict} {number}: {refused.message}"
            )
            return
        card, who_name, requester = await self._db(lambda s: self._after(s, actor, draft))
        outcome = _outcome(draft, verdict)
        line = (
            f"{'Approved' if verdict == 'approve' else 'Rejected'} by {who_name} at {datetime.now():%H:%M} — {outcome}"
        )
        blocks = [*draft_blocks(card, self.config.web_url, buttons=False), decided_block(line)]
        await self.client.chat_update(channel=channel, ts=ts, text=line, blocks=blocks)
        await self._tell_requester(draft, requester, f"{draft.number} was {line[0].lower()}{line[1:]}")

    def _after(self, s: Any, actor: Actor, draft: DraftAction) -> tuple[Any, str, str | None]:
        fresh = get_draft(s, actor, draft_number=draft.number)
        card = views.cards(s, [fresh])[0]
        name = display_names(s, user_ids=[actor.user_id]).get(actor.user_id, actor.username)
        return card, name, account_of(s, channel=CHANNEL, user_id=draft.requester_id)

    async def _tell_requester(self, draft: DraftAction, requester: str | None, text: str) -> None:
        """In the Slack thread the draft came from, else by DM when the requester has Slack."""
        if draft.channel == CHANNEL and draft.conversation_id:
            key = await self._db(lambda s: external_key_of(s, conversation_id=draft.conversation_id or ""))
            if key:
                _, _team, channel, thread = key.split(":", 3)
                await self.client.chat_postMessage(
                    channel=channel, text=text, **({} if thread == "dm" else {"thread_ts": thread})
                )
                return
        if requester:
            await self.client.chat_postMessage(channel=requester, text=text)


def briefing_due(now: datetime, at: time, last_sent: date | None) -> bool:
    """Whether the day's briefings are due: `at` has passed today, by less than the window, and none went today."""
    start = datetime.combine(now.date(), at)
    return last_sent != now.date() and start <= now < start + BRIEFING_WINDOW


def _previews(s: Any, actor: Actor, numbers: list[str]) -> list[DraftCard]:
    """The cards of the drafts a turn made that still wait for their requester (a superseded one does not)."""
    drafts = [get_draft(s, actor, draft_number=n) for n in numbers]
    return views.cards(s, [d for d in drafts if d.status == DraftStatus.UNCONFIRMED])


def _confirmed(draft: DraftAction, waiting_for: list[str]) -> str:
    """What became of a preview once its requester confirmed or cancelled it."""
    if draft.status == "pending_approval":
        return "waiting for approval by " + " and ".join(waiting_for) if waiting_for else "waiting for approval"
    if draft.status == "blocked":
        return f"blocked: {draft.explanation}"
    if draft.status == "cancelled":
        return "nothing was changed"
    return _outcome(draft, "confirm")


def _outcome(draft: DraftAction, verdict: str) -> str:
    if draft.status == "executed":
        return f"executed as {draft.result_ref}"
    if draft.status == "failed":
        return f"failed: {draft.failure_reason}"
    if verdict == "approve" and draft.status == "pending_approval":
        return "waiting for the other approvals"
    return draft.status.replace("_", " ")
