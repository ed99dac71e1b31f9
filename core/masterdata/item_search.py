"""The item queries behind item search: exact SKU keys, SQL narrowing on words, and the texts to embed.

The ranking itself (token scores, fusion with meaning matches) lives in `tools.search`; this module
only reads the catalogue, so that nothing above the core runs its own queries.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, or_, select
from sqlalchemy.orm import Session

from core.masterdata.models import Item


@dataclass(frozen=True)
class ItemText:
    """What the search index embeds for one item."""

    item_id: int
    sku: str
    name: str
    description: str
    category: str


def items_by_sku_keys(session: Session, keys: Sequence[str]) -> dict[str, Item]:
    """The items whose normalised SKU key is one of `keys`, by key."""
    return {i.sku_key: i for i in session.scalars(select(Item).where(Item.sku_key.in_(keys)).order_by(Item.id))}


def items_by_skus(session: Session, skus: Sequence[str]) -> dict[str, Item]:
    """The items with these SKUs, by SKU (unknown SKUs are left out)."""
    return {i.sku: i for i in session.scalars(select(Item).where(Item.sku.in_(skus)))}


def items_matching_words(session: Session, weighted_patterns: Sequence[tuple[str, int]], limit: int) -> list[Item]:
    """Items whose name, description or category contains any pattern, most points first (a pattern's
    points count once per item); items matching none are left out."""
    if not weighted_patterns:
        return []

    def hit(pattern: str, points: int) -> ColumnElement[int]:
        matched = or_(
            Item.name.icontains(pattern, autoescape=True),
            Item.description.icontains(pattern, autoescape=True),
            Item.category.icontains(pattern, autoescape=True),
        )
        return case((matched, points), else_=0)

    total = hit(*weighted_patterns[0])
    for pattern, points in weighted_patterns[1:]:
        total = total + hit(pattern, points)
    score = total.label("score")
    rows = session.execute(select(Item, score).order_by(score.desc(), Item.id).limit(limit)).all()
    return [item for item, points in rows if points > 0]


def item_texts(session: Session) -> list[ItemText]:
    """Every item's searchable text, in id order."""
    rows = session.execute(select(Item.id, Item.sku, Item.name, Item.description, Item.category).order_by(Item.id))
    return [ItemText(*row) for row in rows]
