"""Which model the assistant talks to, and how patiently: all from the environment.

`ERP_ASSISTANT_MODEL` takes any litellm model string (`openai/gpt-4o-mini`, `anthropic/...`,
`ollama/...`); with none set, the local open-weights model runs in-process (`local/...`).
"""

import os
from dataclasses import dataclass

LOCAL_MODEL = "local/qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class ModelSettings:
    model: str = LOCAL_MODEL
    fallback: str | None = None
    timeout_s: float = 120.0
    retries: int = 2
    max_steps: int = 6
    max_tokens: int = 512

    @property
    def is_local(self) -> bool:
        return self.model.startswith("local/")


def model_settings() -> ModelSettings:
    """The settings from `ERP_ASSISTANT_*` variables, with defaults that suit the local model."""
    env = os.environ
    return ModelSettings(
        model=env.get("ERP_ASSISTANT_MODEL") or LOCAL_MODEL,
        fallback=env.get("ERP_ASSISTANT_FALLBACK_MODEL") or None,
        timeout_s=float(env.get("ERP_ASSISTANT_TIMEOUT", "120")),
        retries=int(env.get("ERP_ASSISTANT_RETRIES", "2")),
        max_steps=int(env.get("ERP_ASSISTANT_MAX_STEPS", "6")),
        max_tokens=int(env.get("ERP_ASSISTANT_MAX_TOKENS", "512")),
    )
