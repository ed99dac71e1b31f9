"""Document numbers ("SO-1042") are the prefix and the row id; loading a document by its number."""

import re
from typing import Any, TypeVar

from sqlalchemy.orm import Session, selectinload

from core.errors import NotFound

D = TypeVar("D")


def document_id(number: str | int, prefix: str, kind: str) -> int:
    """The id in "SO-1042", "so 1042" or "1042"; a malformed number is reported as unknown."""
    if isinstance(number, int):
        return number
    match = re.fullmatch(rf"\s*(?:{prefix}[\s\-_#]*)?(\d{{1,12}})\s*", number, flags=re.IGNORECASE)
    if match is None:
        raise NotFound(kind, number, [f"{prefix}-<number>, e.g. {prefix}-1042"])
    return int(match.group(1))


def load_document(
    session: Session, model: type[D], number: str | int, *, prefix: str, kind: str, lock: bool, lines: Any = None
) -> D:
    """The document with this number, with its lines; `lock` for a command that will change it.

    Commands lock the document before its stock, so two people acting on the same order
    wait for each other and the second sees what the first did.
    """
    document = session.get(
        model,
        document_id(number, prefix, kind),
        options=[selectinload(lines)] if lines is not None else None,
        with_for_update=lock,
        populate_existing=lock,
    )
    if document is None:
        raise NotFound(kind, str(number))
    return document
