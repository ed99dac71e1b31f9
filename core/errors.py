"""Typed, actionable errors of the core. Every refusal says what was wrong and what to do."""

from typing import Any


class ErpError(Exception):
    """Base of every refusal the core makes; `code` is stable, `message` is for people."""

    code = "erp_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        """The error as plain data, for tools and APIs."""
        return {"code": self.code, "message": self.message, **self.details}


class NotFound(ErpError):
    """A record named by the caller does not exist (or is not visible); carries close matches."""

    code = "not_found"

    def __init__(self, kind: str, key: str, suggestions: list[str] | None = None) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown {kind} '{key}'{hint}",
            kind=kind,
            key=key,
            suggestions=suggestions or [],
        )


class InvalidInput(ErpError):
    """The request itself is malformed: bad quantity, bad date, missing lines."""

    code = "invalid_input"


class IdempotencyConflict(InvalidInput):
    """An idempotency key sent again with a different request: a retry must repeat the request exactly."""

    code = "idempotency_conflict"


class DuplicateCode(ErpError):
    """A new record would take a code (SKU, customer or supplier code) another record already has."""

    code = "duplicate_code"

    def __init__(self, kind: str, key: str, holder: str) -> None:
        super().__init__(
            f"{kind} code '{key}' is taken by {holder}; choose another code, or change the existing {kind}",
            kind=kind,
            key=key,
        )


class OutOfScope(ErpError):
    """The record belongs to a legal entity outside the acting user's scope."""

    code = "out_of_scope"


class PermissionDenied(ErpError):
    """The acting user lacks the role this command needs."""

    code = "permission_denied"


class InvalidState(ErpError):
    """The command does not apply to the record in its current state."""

    code = "invalid_state"


class DuplicateDocument(InvalidState):
    """The document would repeat one already recorded (a supplier's invoice reference booked twice)."""

    code = "duplicate_document"


class CurrencyMismatch(ErpError):
    """Amounts in different currencies were combined without a conversion."""

    code = "currency_mismatch"


class WrongCounterparty(InvalidInput):
    """Money of one entity or customer aimed at another's document (a payment at another customer's invoice)."""

    code = "wrong_counterparty"


class InsufficientStock(ErpError):
    """Reserving or moving more than is available; `shortfalls` lists what is missing where."""

    code = "insufficient_stock"

    def __init__(self, shortfalls: list[dict[str, Any]]) -> None:
        parts = [
            f"{s['sku']} at {s['warehouse']}: need {s['requested']}, available {s['available']} "
            f"(short {s['requested'] - s['available']})"
            for s in shortfalls
        ]
        super().__init__("not enough stock: " + "; ".join(parts), shortfalls=shortfalls)


class NotASubstitute(InvalidInput):
    """The item asked for is not an approved substitute of the line's item; `suggestions` names those that are."""

    code = "not_a_substitute"


class MissingRate(InvalidInput):
    """No exchange rate for a currency pair on or before a day: finance must add one before amounts convert."""

    code = "missing_rate"

    def __init__(self, from_currency: str, to_currency: str, on: object) -> None:
        super().__init__(
            f"no exchange rate from {from_currency} to {to_currency} on or before {on}; "
            f"ask finance to add the {from_currency}→{to_currency} rate",
            pair=f"{from_currency}/{to_currency}",
            on=str(on),
        )
