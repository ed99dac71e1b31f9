"""Document numbers ("SO-1042") are the prefix and the row id; this turns one back into the id."""

import re

from core.errors import NotFound


def document_id(number: str | int, prefix: str, kind: str) -> int:
    """The id in "SO-1042", "so 1042" or "1042"; a malformed number is reported as unknown."""
    if isinstance(number, int):
        return number
    match = re.fullmatch(rf"\s*(?:{prefix}[\s\-_#]*)?(\d{{1,12}})\s*", number, flags=re.IGNORECASE)
    if match is None:
        raise NotFound(kind, number, [f"{prefix}-<number>, e.g. {prefix}-1042"])
    return int(match.group(1))
