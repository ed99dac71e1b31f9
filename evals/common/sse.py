"""Server-Sent Events as the chat streams them (`event: <name>` and one `data: <json>` line a frame): one parser
for a whole body and for a stream read line by line."""

import json
from typing import Any


class SseStream:
    """Frames of a stream fed line by line: `feed` returns (event, raw data) when a frame ends."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.data = ""

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one line; the frame it completes, if any."""
        if line.startswith("event: "):
            self.name = line[7:]
        elif line.startswith("data: "):
            self.data = line[6:]
        elif not line and self.name is not None:
            frame, self.name, self.data = (self.name, self.data), None, ""
            return frame
        return None


def sse_events(body: str) -> list[tuple[str, Any]]:
    """A Server-Sent-Events body as (event, data) pairs; data that is not JSON is None."""
    stream = SseStream()
    frames = (stream.feed(line) for line in [*body.splitlines(), ""])
    return [(name, json_or_none(data)) for name, data in (f for f in frames if f is not None)]


def leading_json(text: str) -> Any:
    """The JSON value `text` starts with (code may add sentences after an echoed answer), or None."""
    try:
        return json.JSONDecoder().raw_decode(text.lstrip())[0]
    except ValueError:
        return None


def json_or_none(text: str) -> Any:
    """`text` as JSON, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None
