"""Answers and drafts as Slack Block Kit: markdown turned into mrkdwn, tables into fields, ids into links."""

import re
from datetime import UTC
from typing import Any

from assistant.channels.web.schemas import DraftCard
from core.money import format_money
from core.numbering import (
    CREDIT_NOTE,
    DRAFT,
    EXCEPTION_CASE,
    PURCHASE_ORDER,
    RETURN_AUTHORISATION,
    SALES_ORDER,
    STOCK_ADJUSTMENT,
    TRANSFER,
    kind_of,
    mention_pattern,
)
from core.planning.briefing import Briefing

Block = dict[str, Any]
DOCUMENT = mention_pattern(
    [SALES_ORDER, PURCHASE_ORDER, TRANSFER, DRAFT, EXCEPTION_CASE, STOCK_ADJUSTMENT, RETURN_AUTHORISATION, CREDIT_NOTE]
)
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
MAX_TEXT = 2900  # a section's text is limited to 3,000 characters


def mrkdwn(text: str, web: str) -> str:
    """Markdown as Slack's mrkdwn: **bold** becomes *bold*, document numbers link to the web app."""
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return DOCUMENT.sub(lambda m: f"<{_link(web, m.group(0))}|{m.group(0)}>", text)


def _link(web: str, ref: str) -> str:
    kind = kind_of(ref)
    if kind is DRAFT:
        return f"{web}/inbox#{ref}"
    if kind is EXCEPTION_CASE:
        return f"{web}/exceptions#{ref}"
    return f"{web}/api/records/{ref}"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_blocks(lines: list[str], web: str) -> list[Block]:
    header, rows = _cells(lines[0]), [_cells(x) for x in lines[2:]]
    if len(header) == 2 and len(rows) <= 10:
        fields = [{"type": "mrkdwn", "text": mrkdwn(f"*{r[0]}*\n{r[1] if len(r) > 1 else ''}", web)} for r in rows]
        return [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{header[0]}* · *{header[1]}*"}, "fields": fields}
        ]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in [header, *rows]) for i in range(len(header))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) for r in [header, *rows])
    return [{"type": "section", "text": {"type": "mrkdwn", "text": f"```{text[:MAX_TEXT]}```"}}]


def answer_blocks(text: str, web: str) -> list[Block]:
    """An answer: paragraphs as sections, a pipe table as fields (two columns) or a code block."""
    blocks: list[Block] = []
    lines, prose = text.splitlines(), list[str]()
    i = 0
    while i < len(lines):
        if TABLE_ROW.match(lines[i]) and i + 1 < len(lines) and set(lines[i + 1].strip()) <= set("|-: "):
            j = i
            while j < len(lines) and TABLE_ROW.match(lines[j]):
                j += 1
            blocks.extend(_prose(prose, web))
            prose = []
            blocks.extend(_table_blocks(lines[i:j], web))
            i = j
            continue
        prose.append(lines[i])
        i += 1
    blocks.extend(_prose(prose, web))
    return blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": "(no answer)"}}]


def _prose(lines: list[str], web: str) -> list[Block]:
    text = "\n".join(lines).strip()
    return [{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(text, web)[:MAX_TEXT]}}] if text else []


def draft_blocks(card: DraftCard, web: str, *, buttons: bool) -> list[Block]:
    """A draft as approvers see it: summary, what it changes, why it waits; Approve / Reject when asked to decide."""
    link = f"<{web}/inbox#{card.number}|{card.number}>"
    state = card.status.replace("_", " ")
    if card.waiting_for:
        state += " by " + " and ".join(card.waiting_for)
    if card.status == "unconfirmed":
        state = f"not confirmed: nothing has changed yet. If confirmed: {card.explanation}"
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{link}* {card.summary}\n_{state}_"}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Requested by*\n{card.requester}"},
                {"type": "mrkdwn", "text": f"*Value*\n{format_money(card.amount, card.currency)} ({card.entity})"},
            ],
        },
    ]
    if card.diff:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "```" + "\n".join(card.diff)[:MAX_TEXT] + "```"}}
        )
    if card.reasons:
        reasons = "\n".join(f"• {r.text} (`{r.rule}`)" for r in card.reasons)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": reasons[:MAX_TEXT]}]})
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"decide:{card.number}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "draft_approve",
                        "style": "primary",
                        "value": card.number,
                        "text": {"type": "plain_text", "text": "Approve"},
                    },
                    {
                        "type": "button",
                        "action_id": "draft_reject",
                        "style": "danger",
                        "value": card.number,
                        "text": {"type": "plain_text", "text": "Reject"},
                    },
                ],
            }
        )
    return blocks


def preview_blocks(card: DraftCard, web: str, requester: str) -> list[Block]:
    """An unconfirmed draft in the reply to its requester (a Slack user id): the card, then Confirm / Cancel.

    Every block carries the draft's number in its id, so that a click can replace this card and keep the
    rest of the message (the answer, other drafts)."""
    expires = card.expires_at.replace(tzinfo=card.expires_at.tzinfo or UTC)
    until = f"<!date^{int(expires.timestamp())}^{{time}}|{expires:%H:%M} UTC>"
    note = f"Only <@{requester}> can confirm {card.number}; the preview expires at {until}."
    buttons = {
        "type": "actions",
        "block_id": f"confirm:{card.number}",
        "elements": [
            {
                "type": "button",
                "action_id": "draft_confirm",
                "style": "primary",
                "value": card.number,
                "text": {"type": "plain_text", "text": "Confirm"},
            },
            {
                "type": "button",
                "action_id": "draft_cancel",
                "value": card.number,
                "text": {"type": "plain_text", "text": "Cancel"},
            },
        ],
    }
    return [*card_of(card.number, [*draft_blocks(card, web, buttons=False), decided_block(note)]), buttons]


def card_of(number: str, blocks: list[Block]) -> list[Block]:
    """The blocks of a draft's card, each named after the draft (`draft:DR-7:0`, …)."""
    return [{**block, "block_id": block.get("block_id") or f"draft:{number}:{i}"} for i, block in enumerate(blocks)]


def replace_card(message: list[Block], number: str, card: list[Block]) -> list[Block]:
    """The message's blocks with the draft's card (and its buttons) replaced by `card`, where it stood."""
    mine = {f"confirm:{number}"}
    at = [
        i
        for i, b in enumerate(message)
        if b.get("block_id") in mine or str(b.get("block_id", "")).startswith(f"draft:{number}:")
    ]
    if not at:
        return [*message, *card]
    kept = [b for i, b in enumerate(message) if i not in at]
    return [*kept[: at[0]], *card, *kept[at[0] :]]


def decided_block(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def reject_modal(number: str, metadata: str) -> dict[str, Any]:
    """The modal asking why a draft is rejected (the requester reads it)."""
    return {
        "type": "modal",
        "callback_id": "draft_reject_modal",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": f"Reject {number}"[:24]},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "comment",
                "label": {"type": "plain_text", "text": "Why? The requester will read this."},
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": 1000},
            }
        ],
    }


def briefing_blocks(found: Briefing, web: str) -> list[Block]:
    """A person's briefing as a DM: the day, then each line with its top items linked into the web app."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Needs your attention · {found.day.isoformat()}"}}
    ]
    for line in found.lines:
        items = "\n".join(f"• <{web}{i.link}|{i.ref}> {_escape(i.text)}" for i in line.items)
        text = f"*<{web}{line.link}|{_escape(line.text)}>*" + (f"\n{items}" if items else "")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}})
    return blocks


def _escape(text: str) -> str:
    """Text as Slack shows it literally (its mrkdwn treats &, < and > as markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
