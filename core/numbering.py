"""Document numbers: "SO-1042" is a kind's prefix and the row's id, written, read and found in text only here."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import NotFound

MAX_DIGITS = 12  # ids beyond this are not ours: refuse them before they reach the database


@dataclass(frozen=True)
class DocumentKind:
    """A kind of document: its number prefix and its name in messages ("sales order")."""

    prefix: str
    name: str

    def format(self, id_: int) -> str:
        """The document's number: "SO-1042"."""
        return f"{self.prefix}-{id_}"

    def parse(self, number: str | int) -> int:
        """The id in "SO-1042", "so-1042", "so 1042" or "1042"; a malformed number is reported as unknown."""
        if isinstance(number, int):
            return number
        match = re.fullmatch(rf"\s*(?:{self.prefix}[\s\-_#]*)?(\d{{1,{MAX_DIGITS}}})\s*", number, flags=re.IGNORECASE)
        if match is None:
            raise NotFound(self.name, number, [f"{self.prefix}-<number>, e.g. {self.prefix}-1042"])
        return int(match.group(1))


SALES_ORDER = DocumentKind("SO", "sales order")
SALES_ORDER_LINE = DocumentKind("SOL", "sales order line")
SHIPMENT = DocumentKind("SH", "shipment")
INVOICE = DocumentKind("INV", "invoice")
PURCHASE_ORDER = DocumentKind("PO", "purchase order")
TRANSFER = DocumentKind("TR", "transfer")
DRAFT = DocumentKind("DR", "draft")
EXCEPTION_CASE = DocumentKind("EX", "exception case")
STOCK_ADJUSTMENT = DocumentKind("ADJ", "stock adjustment")
RETURN_AUTHORISATION = DocumentKind("RMA", "return authorisation")
CREDIT_NOTE = DocumentKind("CN", "credit note")
SUPPLIER_INVOICE = DocumentKind("SINV", "supplier invoice")
PAYMENT = DocumentKind("PAY", "payment")

KINDS = (
    SALES_ORDER,
    SALES_ORDER_LINE,
    SHIPMENT,
    INVOICE,
    PURCHASE_ORDER,
    TRANSFER,
    DRAFT,
    EXCEPTION_CASE,
    STOCK_ADJUSTMENT,
    RETURN_AUTHORISATION,
    CREDIT_NOTE,
    SUPPLIER_INVOICE,
    PAYMENT,
)
_BY_PREFIX = {kind.prefix: kind for kind in KINDS}


def kind_of(number: str) -> DocumentKind | None:
    """The kind a number written in full names ("SO-1042", "so-1042"); None for anything else (a SKU, "1042")."""
    match = re.fullmatch(rf"([A-Za-z]+)-\d{{1,{MAX_DIGITS}}}", number)
    return _BY_PREFIX.get(match.group(1).upper()) if match else None


def mention_pattern(kinds: Iterable[DocumentKind]) -> re.Pattern[str]:
    """Finds numbers of these kinds written in full inside a text ("... see SO-1042."), as written (upper case)."""
    prefixes = "|".join(sorted((kind.prefix for kind in kinds), key=len, reverse=True))
    return re.compile(rf"\b(?:{prefixes})-\d+\b")
