"""The semantic index in Chroma: items (name, description, category) and policy passages.

Vectors come from our own `Embedder` (Chroma's default embedding function would download a model).
Each record carries a content hash, so a sync embeds only what is new or changed and removes what
is gone. A collection built by another embedder is dropped and rebuilt.
"""

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.db import Database
from core.masterdata.item_search import item_texts
from core.settings import data_dir, get_settings
from tools.search.corpus import Chunk, load_chunks
from tools.search.embeddings import Embedder, embedder_from_env

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

Progress = Callable[[int, int], None]
ITEMS = "items"
DOCUMENTS = "documents"
BATCH = 256
PAGE = 5000


@dataclass(frozen=True)
class SyncReport:
    added: int
    updated: int
    removed: int
    unchanged: int

    @property
    def embedded(self) -> int:
        return self.added + self.updated


@dataclass(frozen=True)
class ItemMatch:
    sku: str
    score: float  # cosine similarity, 1 is identical


@dataclass(frozen=True)
class Passage:
    doc: str
    title: str
    section: str
    text: str
    score: float


@dataclass(frozen=True)
class Record:
    """What goes into a collection for one item or passage."""

    id: str
    text: str
    metadata: dict[str, str | int | float | bool]

    @property
    def digest(self) -> str:
        return str(self.metadata["hash"])


def item_text(name: str, description: str, category: str) -> str:
    """The text embedded for an item."""
    return f"{name}. {description} Category: {category}."


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _item_records(db: Database) -> list[Record]:
    return [
        Record(
            f"item:{row.item_id}",
            text := item_text(row.name, row.description, row.category),
            {"sku": row.sku, "category": row.category, "hash": _digest(row.sku, text)},
        )
        for row in db.read(item_texts)
    ]


def _chunk_record(chunk: Chunk) -> Record:
    meta: dict[str, str | int | float | bool] = {
        "doc": chunk.doc,
        "title": chunk.title,
        "section": chunk.section,
        "hash": chunk.digest,
    }
    return Record(chunk.id, chunk.embed_text, meta)


class SearchIndex:
    """Semantic search over items and policy documents, kept in two Chroma collections."""

    def __init__(self, client: "ClientAPI", embedder: Embedder) -> None:
        self.client = client
        self.embedder = embedder
        self._collections: dict[str, Collection] = {}

    # --- building ---------------------------------------------------------------------------

    def sync_items(self, db: Database, progress: Progress | None = None) -> SyncReport:
        """Bring the items collection in line with the item master: embed new and changed items only."""
        return self._sync(ITEMS, _item_records(db), progress)

    def sync_documents(self, progress: Progress | None = None, folder: Path | None = None) -> SyncReport:
        """Bring the documents collection in line with the packaged documents (or `folder`)."""
        return self._sync(DOCUMENTS, [_chunk_record(c) for c in load_chunks(folder)], progress)

    def reset(self) -> None:
        """Drop both collections; the next sync embeds everything again."""
        existing = {c.name for c in self.client.list_collections()}
        for name in (ITEMS, DOCUMENTS):
            if name in existing:
                self.client.delete_collection(name)
        self._collections.clear()

    def _sync(self, name: str, records: list[Record], progress: Progress | None) -> SyncReport:
        collection = self._collection(name)
        stored = self._stored_hashes(collection)
        wanted = {r.id: r for r in records}
        changed = [r for r in records if stored.get(r.id) != r.digest]
        removed = [i for i in stored if i not in wanted]
        for start in range(0, len(removed), BATCH):
            collection.delete(ids=removed[start : start + BATCH])
        self._embed_into(collection, changed, progress)
        added = sum(1 for r in changed if r.id not in stored)
        return SyncReport(added, len(changed) - added, len(removed), len(records) - len(changed))

    def _embed_into(self, collection: "Collection", records: list[Record], progress: Progress | None) -> None:
        total = len(records)
        if progress:
            progress(0, total)
        for start in range(0, total, BATCH):
            batch = records[start : start + BATCH]
            collection.upsert(
                ids=[r.id for r in batch],
                embeddings=self.embedder.embed([r.text for r in batch]),  # type: ignore[arg-type]
                metadatas=[r.metadata for r in batch],
                documents=[r.text for r in batch],
            )
            if progress:
                progress(start + len(batch), total)

    @staticmethod
    def _stored_hashes(collection: "Collection") -> dict[str, str]:
        hashes: dict[str, str] = {}
        offset = 0
        while True:
            page = collection.get(include=["metadatas"], limit=PAGE, offset=offset)
            metadatas = page["metadatas"] or []
            for record_id, meta in zip(page["ids"], metadatas, strict=True):
                hashes[record_id] = str((meta or {}).get("hash", ""))
            if len(page["ids"]) < PAGE:
                return hashes
            offset += PAGE

    def _collection(self, name: str) -> "Collection":
        """The collection, created on first use, and rebuilt if another embedder made it."""
        if name in self._collections:
            return self._collections[name]
        collection = self._open(name)
        if (collection.metadata or {}).get("embedder") != self.embedder.name:
            self.client.delete_collection(name)
            collection = self._open(name)
        self._collections[name] = collection
        return collection

    def _open(self, name: str) -> "Collection":
        return self.client.get_or_create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder.name},
            embedding_function=None,
        )

    # --- searching --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Records per collection (items, documents), as built by this embedder."""
        return {name: self._collection(name).count() for name in (ITEMS, DOCUMENTS)}

    def is_built(self) -> bool:
        """Whether items and documents have both been indexed (by this embedder)."""
        return all(self.counts().values())

    def search_items(self, text: str, limit: int = 10) -> list[ItemMatch]:
        """Items closest in meaning to `text`, best first."""
        hits = self._query(ITEMS, text, limit)
        return [ItemMatch(str(meta["sku"]), score) for meta, _, score in hits]

    def search_documents(self, text: str, limit: int = 3) -> list[Passage]:
        """Policy passages closest in meaning to `text`, best first."""
        hits = self._query(DOCUMENTS, text, limit)
        return [
            Passage(str(m["doc"]), str(m["title"]), str(m["section"]), _body(document), score)
            for m, document, score in hits
        ]

    def _query(self, name: str, text: str, limit: int) -> list[tuple[dict[str, Any], str, float]]:
        collection = self._collection(name)
        count = collection.count()
        if count == 0 or not text.strip():
            return []
        result = collection.query(
            query_embeddings=self.embedder.embed([text]),  # type: ignore[arg-type]
            n_results=min(limit, count),
            include=["metadatas", "documents", "distances"],
        )
        metadatas: Sequence[Any] = (result["metadatas"] or [[]])[0]
        documents: Sequence[str] = (result["documents"] or [[]])[0]
        distances: Sequence[float] = (result["distances"] or [[]])[0]
        return [
            (dict(meta or {}), doc or "", 1.0 - float(distance))
            for meta, doc, distance in zip(metadatas, documents, distances, strict=True)
        ]


def _body(embedded: str) -> str:
    """A passage's text without the "Title: Section" line it was embedded with."""
    return embedded.split("\n\n", 1)[1] if "\n\n" in embedded else embedded


def open_search_index(path: Path | None = None, embedder: Embedder | None = None) -> SearchIndex:
    """The index: a Chroma server when `CHROMA_HOST` is set (`CHROMA_PORT`, default 8000), else the embedded
    store in `path` (default: the data folder's `chroma/`)."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    configured = get_settings()
    if configured.chroma_host:
        client = chromadb.HttpClient(host=configured.chroma_host, port=configured.chroma_port, settings=settings)
    else:
        folder = path or data_dir() / "chroma"
        folder.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(folder), settings=settings)
    return SearchIndex(client, embedder or embedder_from_env())


def open_built_index() -> SearchIndex | None:
    """The index when it has been built and is reachable, else None: item search then matches words (a missing
    or unreachable index never stops a channel; the reason is logged)."""
    try:
        search = open_search_index()
        return search if search.is_built() else None
    except Exception as error:  # embedded Chroma shared by several workers, or a Chroma server down
        logging.getLogger("erp.search").warning("search index unavailable, item search falls back to words: %s", error)
        return None
