"""Which tools one request can need, chosen by code: a smaller prompt for the local model (`ERP_LOCAL_TOOL_SUBSET`).

Each tool has cues (`CUES`): words of the request that ask for it, and kinds of things the message names (the
entity linker's mentions: a customer, a warehouse, an SO- or EX- number). A tool is offered when a cue of it is
there; a draft tool only when its words are, or words of a change with what it acts on (naming a customer
does not ask for an order; "order them for ACME" does), and never one the user's roles may not run. The
strongest are kept, at most `limit`; a request with no cue at all (a greeting, a question out of scope) gets
`FALLBACK`, the general look-ups. The model may always answer in words instead (the local model's `reply`
comes with any tool list). Routing is data, as the exception routing rules are.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.llm.local.steps import asks_for_change
from core.actor import Role
from core.masterdata.mentions import Linked, Mention, MentionKind
from tools.registry import Registry

ITEM, CUSTOMER, SUPPLIER, WAREHOUSE, DATE, QUANTITY = (
    MentionKind.ITEM,
    MentionKind.CUSTOMER,
    MentionKind.SUPPLIER,
    MentionKind.WAREHOUSE,
    MentionKind.DATE,
    MentionKind.QUANTITY,
)
WORD_WEIGHT = 2  # a word that asks for the tool counts more than a thing the message names
FALLBACK = ("find_items", "search_policies")  # nothing in the request points anywhere: the general look-ups


@dataclass(frozen=True)
class Cue:
    """What points at one tool: `words` (a regex, whole words, any case), mention kinds, document prefixes."""

    words: str
    mentions: frozenset[MentionKind] = frozenset()
    documents: frozenset[str] = frozenset()  # SO, EX, DR, ...
    unless: str = ""  # words that say the request asks for something else ("credit" is not stock "left")
    by_name: bool = True  # a draft a change to a record it acts on asks for; False: only its own words do

    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"\b(?:{self.words})", re.IGNORECASE)

    def ruled_out(self, text: str) -> bool:
        return bool(self.unless) and re.search(rf"\b(?:{self.unless})", text, re.IGNORECASE) is not None


def _cue(
    words: str,
    mentions: Iterable[MentionKind] = (),
    documents: Iterable[str] = (),
    unless: str = "",
    by_name: bool = True,
) -> Cue:
    return Cue(words, frozenset(mentions), frozenset(documents), unless, by_name)


CUES: dict[str, Cue] = {
    "find_items": _cue(
        r"find\b|search|look(?:ing)? (?:for|up)|look (?:[\w/-]+ ){1,8}up\b|catalog|sku (?:for|of)|which sku|what sku"
        r"|do we (?:sell|carry|stock|have any)|products?\b|items?\b|part numbers?|similar|alternatives?|substitutes?",
    ),
    "check_availability": _cue(
        r"stock|available|availability|atp\b|promise|in stock|on hand|inventory|how many|how much .* (?:have|left)"
        r"|enough|short|left\b|units?\b|by when|quantit|free\b|spare\b|(?:has|have|got) \d+"
        r"|(?:can|could) (?:\w+ )?cover",
        [ITEM, WAREHOUSE, QUANTITY],
        unless=r"credit|exposure|overdue|invoices?|owes?\b|receivables?",
    ),
    "get_order_status": _cue(
        r"where(?: i|\')s|status|shipped|ship(?:ping|ment)|backorder|on hold|held|deliver|arriv|late\b|track|eta\b"
        r"|orders?\b",
        documents=["SO"],
        unless=r"shipments?\b|tracking|carrier",
    ),
    "get_customer_credit": _cue(
        r"credit|limit|exposure|overdue|owes?\b|outstanding|receivable|balance|unpaid|invoices?|pay"
        r"|on (?:credit )?hold|blocked|hold reason|take (?:a |an |another )?(?:new )?orders?|order again"
        r"|book (?:it|them|another|a new)|sell (?:to|them)",
        [CUSTOMER],
        unless=r"who (?:can|may|is allowed to)|credited|credit notes?|rma\b",
    ),
    "list_exceptions": _cue(
        r"exceptions?|issues?|problems?|cases?\b|alerts?|shortages?|deviations?|late (?:supplier|deliver)"
        r"|open cases|risks?",
        unless=r"my day\b|briefing|on my plate",
    ),
    "get_exception": _cue(
        r"cases?\b|exceptions?\b|the one (?:about|for)|what(?:\'s| is) up with|details|short\b|missing|shortfall"
        r"|suggest",
        documents=["EX"],
    ),
    "get_kpis": _cue(
        r"kpis?|metrics?|revenue|sales (?:figures|numbers|this|last)|fill rate|on[- ]time|performance|how are we doing"
        r"|dashboard|margin|turnover|numbers|totals?|summary|backlog"
        r"|intercompany|inter-company|group (?:revenue|margin|figures|totals?|view|kpis?)|(?:the|whole) group\b"
        r"|consolidated|net(?:s)? to zero|reporting currency|in (?:usd|eur|gbp)\b",
        [DATE],
    ),
    "search_policies": _cue(
        r"polic(?:y|ies)|rules?\b|procedures?|process\b|allowed|may (?:i|we)|can (?:i|we) (?:give|offer|approve)"
        r"|who\b.*\bapprov|intercompany|thresholds?|discount|terms|returns?\b|how do (?:i|we)|guidelines?"
        r"|(?:without|w/o|no) (?:an? )?(?:manager(?:'s)? )?(?:approval|sign[- ]off)|needs? (?:an? )?approval"
        r"|before (?:an? )?(?:approval|manager)|who (?:can|may|is allowed to)|who (?:needs|has) to (?:sign|approve)"
        r"|needs? (?:an? )?manager|at what (?:size|amount|value|quantity)"
        r"|the most (?:i|we) can|how (?:big|large) can|how (?:much|many) can (?:i|we)\b",
    ),
    "draft_sales_order": _cue(
        r"sales order|new order|place (?:an |a )?order|book\b|sell\b|order \d+|order (?:for|them)"
        r"|create (?:an |a )?order|(?:draft|raise|make) (?:an |a )?order|wants? \d+",
        [CUSTOMER],
        unless=r"(?:from|of|on|in|to) (?:the )?order \d{3,}",  # "drop line 3 from order 2261": that order's change
    ),
    "draft_transfer": _cue(
        r"move|transfer|send|ship \d+|rebalance|relocate|restock|from \w+ to \w+"
        r"|[a-z]+\s*(?:-+|=+)>\s*[a-z]|\u2192",  # an arrow between places: "reno -> atlanta"
        [WAREHOUSE],
    ),
    "draft_purchase_order": _cue(
        r"purchase|buy|po\b|reorder|restock|replenish|order (?:\d+ )?(?:more|from)|(?:draft|raise) (?:a |an )?po",
        [SUPPLIER],
    ),
    "draft_order_change": _cue(
        r"change|increase|reduce|decrease|raise|lower|push|postpone|bring forward|move the|update|amend|set (?:the )?"
        r"|line \d|quantity to|(?<!came )(?<!comes )to \d+ units",  # not a count that "came to 100 units"
        documents=["SO"],
        unless=r"cancel|drop (?:the )?line \d+(?! to\b)",  # "Cancel line 3 of SO-2261": the order action's
    ),
    "request_credit_hold_release": _cue(
        r"release|lift|unblock|take .* off|remove the hold|off (?:credit )?hold"
        r"|(?:put|place)\b[^.?]*\bon (?:a )?(?:credit )?hold",
        [CUSTOMER],
        by_name=False,  # "draft 150 V-200 for them" names a customer and asks for no release
    ),
    "draft_master_data_change": _cue(
        r"(?:raise|lower|increase|decrease|change|set|cut|bump|update)\b[^.?]*\b(?:credit limit|limit to|cost|price"
        r"|lead time|terms|tier)|credit limit (?:to|of) \d|cost (?:of [\w-]+ )?to \d|list price|price list"
        r"|contract price|lead time|payment terms|(?:de)?activate|master data|approved substitute"
        r"|(?:add|remove) [\w-]+ as (?:a |an )?substitute",
        [ITEM, CUSTOMER, SUPPLIER],
        by_name=False,  # an order of an item for a customer named both, and the model took this
    ),
    "draft_exception_action": _cue(
        r"assign|resolve|close|dismiss|comment|note (?:on|that)|add a note|escalate|reassign|hand (?:it )?to",
        documents=["EX"],
    ),
    "get_fulfilment": _cue(
        r"where(?: i|\')s|shipped|ship(?:ping|ment)s?\b|deliver|track|eta\b|carrier|on the (?:road|way)|sent out",
        documents=["SO", "SH"],
    ),
    "draft_shipment": _cue(
        r"ship (?:so|order|it|them|the order)|dispatch|send out|tracking|via (?:ups|fedex|dhl|usps)"
    ),
    "draft_receipt": _cue(r"receiv|arriv|came in|delivered to us|goods in|put away|received", documents=["PO"]),
    "draft_transfer_move": _cue(r"ship (?:tr|the transfer)|receiv|arriv|came in|in transit|damaged", documents=["TR"]),
    "draft_stock_adjustment": _cue(
        r"count(?:ed)?\b|cycle count|write[- ]off|written off|damaged|broken|missing|shrinkage|found \d+|adjust",
        [ITEM, WAREHOUSE],
        by_name=False,  # "move 20 of them to Manchester" names an item and a warehouse and adjusts nothing
    ),
    "draft_order_action": _cue(
        r"substitut|swap|replace|instead of|alternative|expedit|rush|overnight|express|freight|cancel"
        r"|drop (?:the )?line \d+(?! to\b)|re-?allocat|give (?:its |the )?(?:stock|units) to|move (?:the )?reserv",
        documents=["SO"],
    ),
    "get_return": _cue(r"returns?\b|rma\b|credit notes?|sent back|came back", documents=["RMA", "CN"]),
    "draft_return": _cue(
        r"return(?:ed|ing|s)?\b|rma\b|send(?:s|ing)? (?:it |them )?back|sent back|came back|credit note|scrap",
        documents=["RMA"],
    ),
    "get_payables": _cue(
        r"payables?|owe (?:to )?suppliers?|we owe|suppliers? (?:invoices?|bills?)|ageing|aging|due (?:this|next) week"
        r"|due to suppliers|on hold|held|mismatch|three[- ]way|sinv",
        [SUPPLIER],
        documents=["SINV"],
    ),
    "draft_supplier_invoice": _cue(
        r"book (?:an? |the |their |supplier )?(?:invoice|bill)|supplier(?:'s)? invoice|invoice \w*\d+ from"
        r"|enter (?:the |an? )?(?:invoice|bill)|release (?:sinv|the (?:held )?invoice)"
        r"|approve (?:sinv|the (?:held )?invoice) for payment"
        r"|for payment|sinv",
        documents=["SINV"],
    ),
    "get_receivables": _cue(
        r"ageing|aging|overdue|past due|days late|collect|chase|dso\b|days sales|who owes|debtors?|receivables?"
        r"|unapplied|on account",
        [CUSTOMER],
    ),
    "draft_payment": _cue(
        r"record (?:a |the )?payment|payment of|paid\b|pays?\b|remittance|received \S*\d"
        r"|apply (?:the )?(?:payment|cash)|unapplied|on account|revers|bounced|misapplied|bank ref",
        [CUSTOMER],
        documents=["PAY"],
    ),
    "get_draft_status": _cue(r"drafts?\b|approved|rejected|what happened to|went through", documents=["DR"]),
    "get_briefing": _cue(
        r"needs? (?:my )?attention|briefing|my day\b|anything urgent|what should i (?:do|look at|work on)|to-?do"
        r"|priorit|on my plate|catch me up",
    ),
    "explain_finding": _cue(
        r"why (?:do|did|would|are) (?:you|we)\b|why (?:this|the|that) (?:po|transfer|proposal|finding|case)\b"
        r"|propos|explain|evidence|justif",
        documents=["EX"],
    ),
    "draft_from_finding": _cue(
        r"accept|go ahead|take (?:the |that )?propos|open (?:the |that )?propos|proposed (?:po|transfer|draft|order)"
        r"|do what (?:it|you) propos",
        documents=["EX"],
    ),
    "list_pending_approvals": _cue(
        r"approvals?|pending|waiting for (?:me|my)|to approve|sign[- ]off|my inbox|awaiting",
        unless=r"(?:without|w/o|no) (?:an? )?(?:manager(?:'s)? )?(?:approval|sign[- ]off)|needs? (?:an? )?approval"
        r"|before (?:an? )?approval|needs? (?:an? )?manager"
        r"|the most (?:i|we) can|polic(?:y|ies)|rules?\b",
    ),
}


def offered_tools(registry: Registry, roles: Iterable[Role], text: str, linked: Linked | None, limit: int) -> list[str]:
    """The names of the tools `text` can need (in the registry's order), at most `limit`, none the roles may not
    run; `FALLBACK` when nothing in it points at a tool."""
    roles = set(roles)
    usable = [name for name, tool in registry.tools.items() if tool.usable_by(roles)]
    mentions = linked.mentions if linked is not None else ()
    scores = {name: score(name, text, mentions, registry.tools[name].writes) for name in usable}
    ranked = sorted((n for n in usable if scores[n] > 0), key=lambda n: -scores[n])[: max(limit, 1)]
    chosen = set(ranked) or {n for n in FALLBACK if n in usable}
    return [name for name in usable if name in chosen]


def pointed_drafts(registry: Registry, text: str, mentions: Sequence[Mention]) -> list[str]:
    """The drafts a request's own words point at; when none, those the documents it names point at (in the
    registry's order). Words come first: "Raise SO-2253 line 1 to 100" is the order change, though an order named
    points at every draft of orders (the 1.5B model, offered both, took the order action)."""
    documents = [m for m in mentions if m.kind == MentionKind.DOCUMENT]
    drafts = [name for name, tool in registry.tools.items() if tool.writes]
    return [name for name in drafts if worded(name, text, writes=True)] or [
        name for name in drafts if score(name, text, documents, writes=True) >= WORD_WEIGHT
    ]


def worded(name: str, text: str, writes: bool = False) -> bool:
    """Whether the text's own words ask for the tool (its cue's words, not what the text names)."""
    return name in CUES and score(name, text, (), writes=writes) >= WORD_WEIGHT


def for_roles(registry: Registry, roles: Iterable[Role], linked: Linked | None) -> list[str]:
    """The tools a user is offered: those their roles may run, in the registry's order (a prompt prefix per set of
    roles, computed once and reused: sales reads 5,382 tokens of it where a manager reads 7,720), then a draft the
    request's words point at that they may not make. The model calls that one, and the core's refusal says who
    may: hidden, the 1.5B model drafted what it had instead (a sales order for "raise a PO to KEYSTONE")."""
    roles = set(roles)
    usable = [name for name, tool in registry.tools.items() if tool.usable_by(roles)]
    pointed = pointed_drafts(registry, linked.text, linked.mentions) if linked is not None else []
    return usable + [name for name in pointed if name not in usable]


def warming_order(registry: Registry, role_sets: Sequence[Iterable[Role]]) -> list[list[str]]:
    """The distinct tool lists of these sets of roles (`for_roles` before any words; a manager's and an admin's are
    one), the first set's last: warmed in this order, the context ends holding the first set's prompt."""
    offers = [for_roles(registry, roles, None) for roles in role_sets]
    distinct = [names for i, names in enumerate(offers) if names not in offers[:i]]
    return list(reversed(distinct))


def score(name: str, text: str, mentions: Sequence[Mention], writes: bool) -> int:
    """How strongly the request points at one tool: its words count double; a draft tool needs its words."""
    cue = CUES.get(name)
    if cue is None:  # a tool without cues (a newer one): always offered
        return 1
    if cue.ruled_out(text):
        return 0
    words = len({m.group().lower() for m in cue.pattern().finditer(text)}) * WORD_WEIGHT
    kinds = {m.kind for m in mentions}
    named = len(cue.mentions & kinds) + sum(WORD_WEIGHT for m in mentions if document_of(m) in cue.documents)
    if writes and not (words or (named and asks_for_change(text))):
        return 0
    return words + named


# The argument that takes a document of each kind, by its number's prefix (core.numbering).
DOCUMENT_FIELDS = {
    "SO": "order_number",
    "EX": "case_number",
    "DR": "draft_number",
    "RMA": "rma_number",
    "SH": "shipment_number",
    "PO": "po_number",
    "TR": "transfer_number",
    "PAY": "payment_number",
}


def document_of(mention: Mention) -> str | None:
    """The prefix of the document a mention names (SO, EX, DR, ...); a bare "order 2301" is a sales order, "case 15"
    an exception case."""
    if mention.kind != MentionKind.DOCUMENT:
        return None
    written = re.match(r"[A-Za-z]+", (mention.ids or (mention.text,))[0])
    prefix = written.group().upper() if written else "SO"
    return "EX" if prefix == "CASE" else prefix  # "case 15" of no case in scope is still a case
