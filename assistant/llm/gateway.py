"""The one door to models: litellm, imported lazily, with our custom providers registered.

`import litellm` costs seconds and, unless told otherwise, reaches for a price map on the
internet; CLI commands that never talk to a model must not pay for it.
"""

import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_litellm: ModuleType | None = None


def litellm() -> ModuleType:
    """litellm, configured for this machine, with the `local/` and `scripted/` providers registered."""
    global _litellm
    with _lock:
        if _litellm is None:
            import litellm as module

            module.suppress_debug_info = True
            module.telemetry = False
            # We count usage and cost ourselves; litellm's per-chunk stream logging costs a third of a
            # scripted turn's CPU in the web service (measured by evals/bench/web_load/).
            module.disable_streaming_logging = True
            _register_providers(module)
            _litellm = module
        return _litellm


def _register_providers(module: Any) -> None:
    from assistant.llm.local import LocalLLM
    from assistant.llm.scripted import ScriptedLLM

    module.custom_provider_map = [
        *[p for p in module.custom_provider_map if p["provider"] not in ("local", "scripted")],
        {"provider": "local", "custom_handler": LocalLLM()},
        {"provider": "scripted", "custom_handler": ScriptedLLM()},
    ]
