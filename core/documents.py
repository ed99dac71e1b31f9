"""Loading a document by its number ("SO-1042"; see core.numbering for how numbers are written and read).

A document taken over from another system (the import's open orders and invoices) keeps that system's number as
`external_ref`; people go on using it, so a number that is not ours finds the document it names there ("SO-50130"
finds the SO-3 it was imported as). Our own numbers come first: an external number only counts when no document
of ours has the number, and only when one document carries it (the caller then checks the entity scope as ever).
"""

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from core.errors import NotFound
from core.numbering import DocumentKind

D = TypeVar("D")


def load_document(
    session: Session, model: type[D], number: str | int, *, kind: DocumentKind, lock: bool, lines: Any = None
) -> D:
    """The document with this number, with its lines; `lock` for a command that will change it.

    Commands lock the document before its stock, so two people acting on the same order
    wait for each other and the second sees what the first did.
    """
    try:
        document_id: int | None = kind.parse(number)
    except NotFound:
        document_id = None
    options = [selectinload(lines)] if lines is not None else None

    def get(id_: int | None) -> D | None:
        if id_ is None:
            return None
        return session.get(model, id_, options=options, with_for_update=lock, populate_existing=lock)

    document = get(document_id)
    if document is None and isinstance(number, str):
        document = get(id_by_external_ref(session, model, number))
    if document is None:
        kind.parse(number)  # a malformed number is refused with the form a number takes
        raise NotFound(kind.name, str(number))
    return document


def id_by_external_ref(
    session: Session, model: Any, number: str, *, entity_ids: Collection[int] | None = None
) -> int | None:
    """The id of the one document (of these entities, when given) whose number in its previous system is `number`
    (any case), else None: none, or several."""
    column = getattr(model, "external_ref", None)
    text = number.strip()
    if column is None or not text:
        return None
    query = select(model.id).where(func.upper(column) == text.upper())
    if entity_ids is not None:
        query = query.where(model.entity_id.in_(list(entity_ids)))
    ids = session.scalars(query.limit(2)).all()
    return ids[0] if len(ids) == 1 else None
