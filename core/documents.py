"""Loading a document by its number ("SO-1042"; see core.numbering for how numbers are written and read)."""

from typing import Any, TypeVar

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
    document = session.get(
        model,
        kind.parse(number),
        options=[selectinload(lines)] if lines is not None else None,
        with_for_update=lock,
        populate_existing=lock,
    )
    if document is None:
        raise NotFound(kind.name, str(number))
    return document
