"""The webhook signature: `X-ERP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The timestamp is inside what is signed, so a receiver that checks it is recent (`tolerance_s`) refuses a body
captured and replayed later; the HMAC proves the sender knows the subscription's secret and that the body is
unchanged. `verify_signature` is the reference check for receivers: no HTTP, no database, only the standard
library, so it can be copied into a receiver as it is.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ERP-Signature"
EVENT_ID_HEADER = "X-ERP-Event-Id"
EVENT_TYPE_HEADER = "X-ERP-Event-Type"
DEFAULT_TOLERANCE_S = 300


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body` sent now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={_digest(secret, at, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance_s: int = DEFAULT_TOLERANCE_S, *, now: int | None = None
) -> bool:
    """Whether `header` signs `body` with `secret` and was made within `tolerance_s` seconds of now.

    A malformed header, a wrong secret, a changed body or an old timestamp (a replay) all give False."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
