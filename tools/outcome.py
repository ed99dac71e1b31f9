"""What a tool call comes to, typed: the tool's result, a refusal, or a draft.

`Registry.call` returns a `ToolOutcome`, so that a caller asks `outcome.error` or `outcome.draft` instead of
guessing from the keys of a dict. `outcome.data` is exactly the JSON the model is shown.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from core.errors import ErpError


class ToolError(BaseModel):
    """A refusal the model can act on: what went wrong, and what it could try instead."""

    model_config = ConfigDict(frozen=True)

    # The model reads the code under "error"; in Python it is the refusal's code.
    code: str = Field(serialization_alias="error", validation_alias=AliasChoices("error", "code"))
    message: str
    suggestions: list[str] = []

    @classmethod
    def of(cls, error: ErpError) -> "ToolError":
        """The core's refusal, with its code, message and suggestions."""
        return cls(
            code=error.code, message=error.message, suggestions=[str(s) for s in error.details.get("suggestions", [])]
        )


class DraftResult(BaseModel):
    """A draft as a tool returns it: its number, where it stands, and the policy's decision."""

    draft: str
    status: str
    summary: str
    changes: list[str]
    decision: str
    result: str | None = None
    failure: str | None = None
    next_step: str | None = None
    waiting_for: list[str] = []
    facts: list[str] = []


Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class ToolOutcome:
    """One tool call's outcome; `data` is the JSON the model sees (do not change it)."""

    data: dict[str, Any]
    error: ToolError | None = None
    draft: DraftResult | None = None

    @classmethod
    def of(cls, result: BaseModel) -> "ToolOutcome":
        """A tool's result; a draft when the tool returned one."""
        data = result.model_dump(mode="json", exclude_none=True)
        return cls(data, draft=result if isinstance(result, DraftResult) else None)

    @classmethod
    def refused(cls, error: ToolError) -> "ToolOutcome":
        """A refusal, shown to the model as `{"error": code, "message": ..., "suggestions": [...]}`."""
        return cls(error.model_dump(mode="json", by_alias=True), error=error)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ToolOutcome":
        """The outcome behind JSON a model was shown, for callers that see only that JSON (a model, a transcript)."""
        return cls(data, error=_parsed(ToolError, data), draft=_parsed(DraftResult, data))

    @property
    def ok(self) -> bool:
        """The tool ran (a draft the policy blocked is still a tool that ran)."""
        return self.error is None

    @property
    def kind(self) -> Literal["ok", "refused", "draft"]:
        """Which of the three outcomes this is."""
        if self.error is not None:
            return "refused"
        return "ok" if self.draft is None else "draft"

    @property
    def draft_number(self) -> str | None:
        """The number of the draft this call made or looked up, if any."""
        return self.draft.draft if self.draft is not None else None

    def as_json(self) -> str:
        """`data` as the compact JSON text the model is given."""
        return compact_json(self.data)


def compact_json(data: Any) -> str:
    """A tool result as the compact JSON text a model is given (whole, or briefed: tools/brief.py)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def _parsed(model: type[Model], data: dict[str, Any]) -> Model | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
