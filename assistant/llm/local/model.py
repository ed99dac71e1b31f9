"""The loaded model: llama.cpp in process, its context and saved prompt prefix, and the process's one copy.

Importing this module does not import llama_cpp; the model is loaded on first use (`engine()`).
"""

import atexit
import codecs
import contextlib
import hashlib
import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.llm.local.prompt import CHATML_TOOLS_TEMPLATE, ChatTemplate
from assistant.llm.local.sampling import GreedyChoice, looping
from assistant.llm.local.threads import threads
from assistant.llm.weights import is_verified, model_path
from core.errors import ErpError
from core.settings import Switch, data_dir, get_settings

# A finance user's prompt (30 tools) and one report's result need about 10,000 tokens; 16,384 costs some 0.5 GB of
# KV cache and no time until it is used.
DEFAULT_CONTEXT = 16384
# Saved prefixes kept, the least recently used dropped first: one per set of roles in use (each offers its own tools)
# and one per offer a request widened with a draft its user may not make; about 0.2 GB each.
PREFIX_STATES_KEPT = 12
HOSTED_HINT = "set ERP_ASSISTANT_MODEL to a hosted model string (e.g. openai/gpt-4o-mini) with its key"


class LocalModelUnavailable(ErpError):
    code = "local_model_unavailable"


class LocalModelTimeout(TimeoutError):
    """The local model did not finish within the call's timeout (waiting for the model included)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the local model did not finish within {timeout_s:g} s")
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class Deadline:
    """When a call must have finished: litellm's `timeout`, which a hosted model's HTTP client enforces."""

    at: float  # a time.monotonic() value
    timeout_s: float

    @classmethod
    def after(cls, timeout_s: float) -> "Deadline":
        return cls(time.monotonic() + timeout_s, timeout_s)

    def left_s(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.left_s() < 0:
            raise LocalModelTimeout(self.timeout_s)


def unavailable_reason() -> str | None:
    """Why the local model cannot run here, in words for the chat; None if it can. Loads nothing."""
    path = model_path()
    if get_settings().local_model_path:
        if not path.is_file():
            return f"ERP_LOCAL_MODEL_PATH points at {path}, which is not a file; fix it, or {HOSTED_HINT}"
    elif not is_verified(path):
        return f"the local model is not installed: run `erp-assistant model install`, or {HOSTED_HINT}"
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36), or {HOSTED_HINT}"
    return None


def context_size() -> int:
    return max(2048, get_settings().local_context or DEFAULT_CONTEXT)


@dataclass
class Stats:
    """What the last generation cost."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    first_token_seconds: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class WarmUp:
    tokens: int
    seconds: float
    source: str  # "memory", "disk" or "computed"


def cpu_advertises_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU lists Intel AMX among its flags (Linux; False where that cannot be read)."""
    try:
        return "amx_tile" in cpuinfo.read_text().split()
    except OSError:
        return False


def extra_buffers_wanted(setting: Switch | None = None, amx: bool | None = None) -> bool:
    """Whether llama.cpp may use its extra weight buffer types (AMX, repacked weights): `ERP_LOCAL_EXTRA_BUFFERS`
    on/off, or auto (the default): off on a CPU that advertises AMX. llama.cpp built for such a CPU runs its
    matrix products on AMX tiles, which die with SIGILL (`tilezero`) on virtual machines that advertise AMX
    without serving it to every thread; without the extra buffers it computes on AVX-512 instead."""
    choice = setting or get_settings().local_extra_buffers
    if choice != "auto":
        return choice == "on"
    return not (cpu_advertises_amx() if amx is None else amx)


@contextlib.contextmanager
def _extra_buffer_types(enabled: bool) -> Iterator[None]:
    """llama-cpp-python's `Llama` does not pass `use_extra_bufts` through, but builds its model parameters from
    `llama_model_default_params()` while it loads: for that load, the defaults carry the choice."""
    import llama_cpp.llama_cpp as native

    default = native.llama_model_default_params

    def chosen() -> Any:
        params = default()
        params.use_extra_bufts = enabled
        return params

    native.llama_model_default_params = chosen
    try:
        yield
    finally:
        native.llama_model_default_params = default


@dataclass
class Engine:
    """One loaded model and its context. Not re-entrant: hold `lock` around every use."""

    llama: Any
    template: ChatTemplate
    path: Path
    n_ctx: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: Stats = field(default_factory=Stats)
    threads: tuple[int, int] = (1, 1)  # used by the last call: generating, prompt processing

    @classmethod
    def load(
        cls, path: Path, n_threads: int, n_threads_batch: int, n_ctx: int, *, flash_attention: bool = False
    ) -> "Engine":
        """The model at `path` in a context of `n_ctx` tokens. Flash attention stays off: on this 2-core CPU it read
        and wrote more slowly deep in the context (evals/results/context_speed-flash-attention.md)."""
        from llama_cpp import Llama

        with _extra_buffer_types(extra_buffers_wanted()):
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=512,
                n_threads=n_threads,
                n_threads_batch=n_threads_batch,
                flash_attn=flash_attention,
                verbose=False,
            )
        source = llama.metadata.get("tokenizer.chat_template") or CHATML_TOOLS_TEMPLATE
        vocab = llama._model
        bos = vocab.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
        eos = vocab.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
        return cls(llama, ChatTemplate(source, bos, eos), path, n_ctx)

    def tokenize(self, text: str) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], max_tokens: int) -> list[int]:
        """The rendered conversation's tokens; the oldest turns are left out if it would not fit (never the
        system messages, never the newest user message)."""
        kept = list(messages)
        while True:
            tokens = self.tokenize(self.template.render(kept, tools, add_generation_prompt=True))
            if len(tokens) + max_tokens <= self.n_ctx:
                return tokens
            shorter = drop_oldest_turn(kept)
            if shorter is None:
                raise ErpError(
                    f"the conversation needs {len(tokens):,} tokens, more than the local model's context of "
                    f"{self.n_ctx:,}; start a new conversation or set ERP_LOCAL_CONTEXT higher",
                )
            kept = shorter

    def prefix(self, shared: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[int]:
        """The tokens of the leading system messages and the tools: the part every call shares."""
        return self.tokenize(self.template.render(shared, tools, add_generation_prompt=False))

    def cached(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` the context already holds."""
        held = self.llama.input_ids[: min(self.llama.n_tokens, len(tokens))]
        differ = np.flatnonzero(held != np.asarray(tokens[: len(held)], dtype=held.dtype))
        return int(differ[0]) if differ.size else len(held)

    def feed(self, tokens: Sequence[int], *, logits: bool) -> int:
        """Make the context hold exactly `tokens`, evaluating only what it does not hold yet (with `logits`, at
        least the last token, so the next one can be chosen). Returns how many were reused."""
        self.threads = threads()
        self.llama._ctx.set_n_threads(*self.threads)
        reused = self.cached(tokens)
        if logits:
            reused = min(reused, len(tokens) - 1)
        self.llama.n_tokens = reused  # eval() drops whatever the context held beyond this
        if reused < len(tokens):
            self.llama.eval(list(tokens[reused:]))
        return reused

    def ensure_prefix(self, tokens: list[int]) -> WarmUp:
        """Have the context hold `tokens` (from memory, from the disk copy, or by evaluating and saving them)."""
        began = time.perf_counter()
        state = self._state_file(tokens)
        if self.cached(tokens) >= len(tokens):
            _used(state)
            return WarmUp(len(tokens), 0.0, "memory")
        if state.is_file() and self._load_state(state, tokens):
            _used(state)
            return WarmUp(len(tokens), time.perf_counter() - began, "disk")
        self.feed(tokens, logits=False)
        with contextlib.suppress(OSError):
            self._save_state(state, tokens)
        return WarmUp(len(tokens), time.perf_counter() - began, "computed")

    def _state_file(self, tokens: Sequence[int]) -> Path:
        """Where the prefix of these tokens is saved: one file per model file (by its real path, so that checkouts
        whose data/models is a link to one folder share it), context size and prefix."""
        stat = self.path.stat()
        key = hashlib.sha256(
            json.dumps([str(self.path.resolve()), stat.st_size, stat.st_mtime_ns, self.n_ctx, list(tokens)]).encode()
        ).hexdigest()[:24]
        return data_dir() / "models" / "prefix-cache" / f"{self.path.stem}-{key}.state"

    def _save_state(self, path: Path, tokens: Sequence[int]) -> None:
        import llama_cpp

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_state_save_file(self.llama.ctx, str(partial).encode(), array, len(tokens)):
            partial.replace(path)
        partial.unlink(missing_ok=True)
        for old in sorted(path.parent.glob("*.state"), key=lambda p: p.stat().st_mtime)[:-PREFIX_STATES_KEPT]:
            old.unlink(missing_ok=True)

    def _load_state(self, path: Path, tokens: Sequence[int]) -> bool:
        import ctypes

        import llama_cpp

        capacity = len(tokens)
        array = (llama_cpp.llama_token * capacity)()
        count = ctypes.c_size_t(0)
        self.llama.reset()
        if not llama_cpp.llama_state_load_file(
            self.llama.ctx, str(path).encode(), array, capacity, ctypes.byref(count)
        ) or list(array[: count.value]) != list(tokens):
            self.llama.reset()
            return False
        self.llama.input_ids[: count.value] = list(tokens)
        self.llama.n_tokens = count.value
        path.touch()
        return True

    def generate(
        self,
        tokens: list[int],
        grammar: str | None,
        max_tokens: int,
        *,
        opening: str = "",
        certain: Callable[[str], str] | None = None,
        deadline: Deadline | None = None,
    ) -> Generator[str, None, None]:
        """The output's text as it is generated (greedy, within `grammar`), until the end of turn or
        `max_tokens`. Only the part of `tokens` the context does not hold yet is evaluated. The output starts
        with `opening`, and whatever `certain(output so far)` says must follow is taken without generating it:
        both are evaluated in a batch, several times faster than token by token. Past `deadline` it stops
        with `LocalModelTimeout`."""
        from llama_cpp import llama_vocab_is_eog

        llama, vocab = self.llama, self.llama._model.vocab
        stats = self.last = Stats(prompt_tokens=len(tokens))
        began = time.perf_counter()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        chooser = GreedyChoice(llama, grammar)

        def emit(new: list[int]) -> str:
            stats.completion_tokens += len(new)
            return str(decoder.decode(llama.detokenize(new))) if new else ""

        try:
            opened = chooser.take(self.tokenize(opening))
            stats.cached_tokens = self.feed(tokens + opened, logits=True)
            output = emit(opened)
            if output:
                yield output
            while stats.completion_tokens < max_tokens:
                if deadline is not None:
                    deadline.check()
                logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(chooser.n_vocab,))
                token = chooser.choose(logits)
                stats.first_token_seconds = stats.first_token_seconds or time.perf_counter() - began
                if llama_vocab_is_eog(vocab, token):
                    break
                chooser.accept(token)
                piece = emit([token])
                extra = chooser.take(self.tokenize(certain(output + piece))) if certain else []
                piece += emit(extra)
                output += piece
                if piece:
                    yield piece
                if looping(output):
                    break
                llama.eval([token, *extra])
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            chooser.close()
            stats.seconds = time.perf_counter() - began


def _used(state: Path) -> None:
    """Mark a saved prefix as just used: the least recently used are dropped first (a prefix saved for one request
    must not push out the prefix of a set of roles in daily use; on a slow machine recomputing one takes minutes)."""
    with contextlib.suppress(OSError):
        os.utime(state)


def drop_oldest_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The messages without the oldest turn after the leading system messages (a user message and what
    answered it); None if only the newest turn is left."""
    head = next((i for i, m in enumerate(messages) if m["role"] != "system"), len(messages))
    users = [i for i, m in enumerate(messages) if i > head and m["role"] == "user"]
    if not users:
        return None
    return messages[:head] + messages[users[0] :]


_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The process's one loaded model, loaded on first use; `LocalModelUnavailable` says how to get one."""
    global _engine
    with _engine_lock:
        if _engine is None:
            reason = unavailable_reason()
            if reason:
                raise LocalModelUnavailable(reason)
            _engine = Engine.load(model_path(), *threads(), context_size())
            atexit.register(_unload)
        return _engine


def _unload() -> None:
    """Free the model while the interpreter is still whole (llama-cpp-python's own finaliser fails at shutdown)."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.llama.close()
            _engine = None
