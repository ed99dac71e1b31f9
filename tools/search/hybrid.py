"""Item search for the assistant: an exact SKU first, then word matches and meaning matches fused.

The word ranking narrows candidates in SQL (any query word in name, description or category),
then scores them on whole tokens, sizes counting double, so "1/4in" does not match "1-1/4in".
The meaning ranking comes from the Chroma index when there is one. The two rankings are merged
by reciprocal-rank fusion; tied word scores share a rank, so meaning breaks the tie.
"""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from core.masterdata.item_search import items_by_sku_keys, items_by_skus, items_matching_words
from core.masterdata.models import Item
from core.masterdata.service import sku_key
from tools.search.text import item_tokens, size_core, tokens

if TYPE_CHECKING:
    from tools.search.index import SearchIndex

RRF_K = 10
EXACT = 1e9  # the fused score of an exact SKU: above any fusion of ranks
WEIGHTS = {"words": 1.0, "meaning": 0.5}  # per ranking: meaning re-ranks and fills in, words lead
CANDIDATES = 300  # rows the SQL narrowing hands to token scoring
DEPTH = 50  # hits taken from each ranking into the fusion
MIN_SIMILARITY = 0.3  # meaning hits below this are noise
MARGIN = 0.15  # nor are those this far below the best one
SKU_SHAPED = re.compile(r"^[A-Za-z]{1,4}[-\s]?\d{2,6}[A-Za-z]?$")
SIZE_WEIGHT = 2.0
PREFIX_CREDIT = 0.6
DESCRIPTION_CREDIT = 0.7
COVERAGE_WEIGHT = 0.25
WORD_FLOOR = 0.6  # word matches scoring below this share of the best one are left out


@dataclass
class Hit:
    item: Item
    reasons: list[str] = field(default_factory=list)
    fused: float = 0.0
    word_rank: int | None = None  # its rank by the query's words (ties share one); None: not matched by words

    @property
    def match(self) -> str:
        return "+".join(self.reasons)


def exact_skus(session: Session, query: str) -> list[Item]:
    """Items whose SKU is the whole query, or one of its words, ignoring case and punctuation."""
    keys = [sku_key(query)] + [sku_key(w) for w in query.replace(",", " ").split() if any(c.isdigit() for c in w)]
    keys = list(dict.fromkeys(k for k in keys if k))
    if not keys:
        return []
    found = items_by_sku_keys(session, keys)
    return [found[k] for k in keys if k in found]


def _weight(term: str) -> float:
    return SIZE_WEIGHT if size_core(term) else 1.0


def _sql_pattern(term: str) -> str:
    """What the SQL narrowing looks for: a size's number part (names write "12 AWG"), else the word."""
    return size_core(term) or term


def _narrow(session: Session, terms: list[str]) -> list[Item]:
    patterns = [(_sql_pattern(term), int(_weight(term) * 10)) for term in terms]
    return items_matching_words(session, patterns, CANDIDATES)


def _term_score(term: str, name: frozenset[str], rest: frozenset[str]) -> float:
    """How well one query term matches an item's name tokens (full credit) or other text (less)."""
    for tokens_, credit in ((name, 1.0), (rest, DESCRIPTION_CREDIT)):
        if term in tokens_:
            return credit * _weight(term)
    core = size_core(term)
    for tokens_, credit in ((name, 1.0), (rest, DESCRIPTION_CREDIT)):
        if core and core == term and any(size_core(t) == core for t in tokens_):
            return 0.8 * credit * _weight(term)
        if not core and len(term) >= 3 and any(t.startswith(term) for t in tokens_):
            return PREFIX_CREDIT * credit
    return 0.0


def _term_scores(terms: list[str], item: Item) -> dict[str, float]:
    """Each query term's match score against the item's text (0: no match)."""
    name = item_tokens(item.name)
    rest = item_tokens(f"{item.description} {item.category}")
    return {t: _term_score(t, name, rest) for t in terms}


def word_score(terms: list[str], item: Item) -> float:
    """The item's word-match score for the query terms; name coverage breaks ties between equals."""
    scores = _term_scores(terms, item)
    score = sum(scores.values())
    name = item_tokens(item.name)
    covered = sum(1 for t in name if scores.get(t)) / max(1, len(name))
    return score + COVERAGE_WEIGHT * covered if score else 0.0


def lexical_ranking(session: Session, query: str, limit: int = DEPTH) -> list[tuple[Item, int]]:
    """Items matching the query's words, best first, each with its rank (ties share a rank)."""
    terms = list(dict.fromkeys(tokens(query)))[:12]
    if not terms:
        return []
    scored = [(item, round(word_score(terms, item), 6)) for item in _narrow(session, terms)]
    best = max((score for _, score in scored), default=0.0)
    kept = (s for s in scored if s[1] > 0 and s[1] >= WORD_FLOOR * best)
    scored = sorted(kept, key=lambda s: (-s[1], s[0].id))[:limit]
    ranked: list[tuple[Item, int]] = []
    for position, (item, score) in enumerate(scored, start=1):
        same = ranked and scored[position - 2][1] == score
        ranked.append((item, ranked[-1][1] if same else position))
    return ranked


def described_items(session: Session, description: str, limit: int) -> tuple[list[Item], int]:
    """The items matching the most of a description's words, best ranked first (at most `limit`), and how many
    there are: "1 inch brass valves" gives the three 1in brass valves, not the brass caps or the bronze valves
    that match fewer of its words. The candidates a question offers for an item the user described, not named;
    none when no item matches two of its words (its one word), so that stray words ("anything to sign off")
    offer no items."""
    terms = list(dict.fromkeys(tokens(description)))[:12]
    matched = [(item, _terms_matched(terms, item)) for item, _ in lexical_ranking(session, description)]
    most = max((n for _, n in matched), default=0)
    fitting = [item for item, n in matched if n == most] if most >= min(2, len(terms)) else []
    return fitting[:limit], len(fitting)


def _terms_matched(terms: list[str], item: Item) -> int:
    return sum(1 for score in _term_scores(terms, item).values() if score)


def semantic_ranking(session: Session, index: "SearchIndex", query: str, limit: int = DEPTH) -> list[Item]:
    """Items close in meaning to the query, best first; none for a SKU-shaped query."""
    if SKU_SHAPED.match(query.strip()):
        return []
    matches = index.search_items(query, limit)
    if not matches:
        return []
    floor = max(MIN_SIMILARITY, matches[0].score - MARGIN)
    matches = [m for m in matches if m.score >= floor]
    by_sku = items_by_skus(session, [m.sku for m in matches])
    return [by_sku[m.sku] for m in matches if m.sku in by_sku]


def find(session: Session, query: str, limit: int, index: "SearchIndex | None" = None) -> list[Hit]:
    """Exact SKUs first, then the fused word and meaning rankings."""
    exact = exact_skus(session, query)
    hits: dict[int, Hit] = {i.id: Hit(i, ["sku"], fused=EXACT - n) for n, i in enumerate(exact)}
    if hits and SKU_SHAPED.match(query.strip()):
        return list(hits.values())[:limit]  # a SKU and nothing else: no need to guess further
    for item, rank in lexical_ranking(session, query):
        _add(hits, item, rank, "words")
        hits[item.id].word_rank = rank
    if index is not None:
        for rank, item in enumerate(semantic_ranking(session, index, query), start=1):
            _add(hits, item, rank, "meaning")
    ordered = sorted(hits.values(), key=lambda h: (-h.fused, h.item.sku))
    return ordered[:limit]


def equally_good(hits: list[Hit]) -> list[Hit]:
    """The hits the query's words fit as well as the first: "brass tee" fits the 1/2in, 3/4in and 1in tees alike,
    whichever meaning ranks first. Only the first when it is an exact SKU or no word matched it."""
    first = hits[0].word_rank if hits and "sku" not in hits[0].reasons else None
    return [h for h in hits if h.word_rank == first] if first is not None else hits[:1]


def _add(hits: dict[int, Hit], item: Item, rank: int, reason: str) -> None:
    hit = hits.setdefault(item.id, Hit(item))
    if "sku" in hit.reasons:
        return
    hit.reasons.append(reason)
    hit.fused += WEIGHTS[reason] / (RRF_K + rank)
