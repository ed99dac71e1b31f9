"""Which model the assistant talks to, and how patiently: from the `ERP_ASSISTANT_*` settings.

`ERP_ASSISTANT_MODEL` takes any litellm model string (`openai/gpt-4o-mini`, `anthropic/...`,
`ollama/...`); with none set, the local open-weights model runs in-process (`local/...`).
"""

from dataclasses import dataclass

from core.settings import LOCAL_MODEL, Settings, get_settings

__all__ = ["LOCAL_MODEL", "ModelSettings", "model_settings"]


@dataclass(frozen=True)
class ModelSettings:
    model: str = LOCAL_MODEL
    fallback: str | None = None
    timeout_s: float = 120.0
    retries: int = 2
    max_steps: int = 6
    max_tokens: int = 512
    # A turn whose last round made only previews is answered in code's words, without asking the model again (a
    # model says "pending approval" or "done" of a preview; the local model's step rule ends the chain there anyway).
    # Off only for harnesses whose model must speak after a preview (the access matrix's echo model).
    previews_end_turn: bool = True
    tool_subset: int | None = None  # the local model: at most this many tools per request, chosen by code
    routing: bool = True  # the local model: each look-up part of a request gets the tools code routes it to
    brief_results: bool = True  # the local model: results without what their facts state (tools/brief.py)

    @property
    def is_local(self) -> bool:
        return self.model.startswith("local/")


def model_settings(settings: Settings | None = None) -> ModelSettings:
    """The model settings of the deployment's `ERP_ASSISTANT_*` variables (defaults suit the local model)."""
    settings = settings or get_settings()
    return ModelSettings(
        model=settings.assistant_model,
        fallback=settings.assistant_fallback_model,
        timeout_s=settings.assistant_timeout,
        retries=settings.assistant_retries,
        max_steps=settings.assistant_max_steps,
        max_tokens=settings.assistant_max_tokens,
        tool_subset=settings.local_tool_subset,
        routing=settings.local_routing,
        brief_results=settings.local_brief_results,
    )
