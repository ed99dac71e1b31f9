"""Retrieval for the assistant: a Chroma index of items and policy documents, and hybrid item search.

Importing this package loads neither Chroma nor a model; they load when an index is opened or used.
"""

from tools.search.embeddings import Embedder, LiteLLMEmbedder, LocalEmbedder, embedder_from_env
from tools.search.index import ItemMatch, Passage, SearchIndex, SyncReport, open_built_index, open_search_index

__all__ = [
    "Embedder",
    "ItemMatch",
    "LiteLLMEmbedder",
    "LocalEmbedder",
    "Passage",
    "SearchIndex",
    "SyncReport",
    "embedder_from_env",
    "open_built_index",
    "open_search_index",
]
