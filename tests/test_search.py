"""Retrieval: hybrid item search, the policy documents, and the incremental Chroma index (SQLite only).

The demo company and its index are built once for the module; embedding 500 items takes seconds.
"""

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from core.db import Database
from core.demo.directory import INTERCOMPANY_MARKUP, USERS
from core.masterdata.models import Item
from core.masterdata.service import load_actor
from core.policy.loader import DEFAULT_POLICY_FILE
from tests.databases import Templates
from tools import ToolContext, default_registry
from tools.search import LiteLLMEmbedder, LocalEmbedder, SearchIndex, embedder_from_env, open_search_index
from tools.search.corpus import load_chunks, split_markdown
from tools.search.text import tokens

REGISTRY = default_registry()


class CountingEmbedder:
    """Wraps an embedder and counts the texts it embeds."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed(texts)


class HashEmbedder:
    """A cheap stand-in with a fixed vector per text, for testing what gets embedded."""

    def __init__(self, name: str = "test:hash") -> None:
        self.name = name
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return [[b / 255 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in texts]


@pytest.fixture(scope="module")
def module_demo(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The demo company on SQLite, one copy for the whole module (its tests only read it; the index is built once)."""
    with templates.clone("sqlite", "demo", tmp_path_factory.mktemp("search")) as db:
        yield db


@pytest.fixture(scope="module")
def embedder() -> CountingEmbedder:
    return CountingEmbedder(LocalEmbedder())


@pytest.fixture(scope="module")
def index(module_demo: Database, embedder: CountingEmbedder, tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    search = open_search_index(tmp_path_factory.mktemp("chroma"), embedder)
    items = search.sync_items(module_demo)
    documents = search.sync_documents()
    assert items.added == 500 and documents.added == len(load_chunks())
    return search


def _ctx(db: Database, search: SearchIndex | None, user: str = "sam") -> ToolContext:
    return ToolContext(db.read(lambda s: load_actor(s, username=user)), channel="web", search=search)


def _skus(result: dict[str, Any]) -> list[str]:
    return [hit["sku"] for hit in result["items"]]


# --- items --------------------------------------------------------------------------------------


def test_a_salespersons_description_finds_the_valve_in_the_top_three(module_demo: Database, index: SearchIndex) -> None:
    result = REGISTRY.call(
        module_demo, _ctx(module_demo, index), "find_items", {"query": "three-quarter inch brass valve"}
    ).data
    assert "V-200" in _skus(result)[:3]


@pytest.mark.parametrize("typed", ["V-200", "v200", "v-200", "V 200"])
def test_a_sku_typed_exactly_ranks_first(module_demo: Database, index: SearchIndex, typed: str) -> None:
    result = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": typed}).data
    first = result["items"][0]
    assert (first["sku"], first["match"]) == ("V-200", "sku")


def test_a_sku_inside_a_description_still_ranks_first(module_demo: Database, index: SearchIndex) -> None:
    result = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": "gloves like S-100"}).data
    assert _skus(result)[0] == "S-100"


def test_without_an_index_words_still_match_and_sizes_are_exact(module_demo: Database) -> None:
    ctx = _ctx(module_demo, None)
    result = REGISTRY.call(module_demo, ctx, "find_items", {"query": "quarter inch brass ball valve"}).data
    assert _skus(result)[0] == "V-540"  # Brass ball valve 1/4in, not 1-1/4in (V-180)
    assert "V-180" not in _skus(result)[:1]
    assert {h["match"] for h in result["items"]} == {"words"}


def test_meaning_finds_what_no_word_matches_and_only_with_the_index(module_demo: Database, index: SearchIndex) -> None:
    without = REGISTRY.call(module_demo, _ctx(module_demo, None), "find_items", {"query": "earmuffs"}).error
    assert without is not None and without.code == "not_found"
    found = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": "earmuffs"}).data
    assert _skus(found)[0] == "S-230" and found["items"][0]["match"] == "meaning"


def test_a_mistyped_sku_is_an_error_with_suggestions_not_a_guess(module_demo: Database, index: SearchIndex) -> None:
    error = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": "V-2000"}).error
    assert error is not None and error.code == "not_found" and "V-200" in error.suggestions


def test_the_embedder_comes_from_the_environment_and_loads_nothing_until_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_EMBEDDING_MODEL", "text-embedding-3-small")
    hosted = embedder_from_env()
    assert isinstance(hosted, LiteLLMEmbedder) and hosted.name == "litellm:text-embedding-3-small"
    monkeypatch.delenv("ERP_EMBEDDING_MODEL")
    local = embedder_from_env()
    assert isinstance(local, LocalEmbedder) and local.name == "local:all-MiniLM-L6-v2" and local._model is None


def test_importing_the_tools_loads_neither_chroma_nor_torch() -> None:
    heavy = "{'chromadb', 'torch', 'sentence_transformers'}"
    code = f"import sys, tools, tools.search; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the index ------------------------------------------------------------------------------------


def test_a_second_sync_embeds_nothing(module_demo: Database, index: SearchIndex, embedder: CountingEmbedder) -> None:
    before = embedder.texts
    items, documents = index.sync_items(module_demo), index.sync_documents()
    assert (items.embedded, items.removed, items.unchanged) == (0, 0, 500)
    assert (documents.embedded, documents.removed) == (0, 0)
    assert embedder.texts == before


def test_sync_embeds_only_new_and_changed_items_and_drops_deleted_ones(sqlite_demo: Database, tmp_path: Path) -> None:
    db = sqlite_demo
    fake = HashEmbedder()
    search = open_search_index(tmp_path / "chroma", fake)
    progress: list[tuple[int, int]] = []
    assert search.sync_items(db, progress=lambda done, total: progress.append((done, total))).added == 500
    assert progress == [(0, 500), (256, 500), (500, 500)]

    def change(session: Session) -> None:
        session.execute(update(Item).where(Item.sku == "V-200").values(name="Brass ball valve 3/4in, blue handle"))
        session.add(
            Item(
                sku="X-900",
                sku_key="X900",
                name="Chiller",
                category="HVAC",
                standard_cost=Decimal(1),
                list_price=Decimal(2),
            )
        )

    db.run(change)
    fake.seen.clear()
    report = search.sync_items(db)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 0, 499)
    assert len(fake.seen) == 2 and any("blue handle" in text for text in fake.seen)
    assert [m.sku for m in search.search_items(fake.seen[0], 1)] in (["V-200"], ["X-900"])

    db.run(lambda s: s.execute(delete(Item).where(Item.sku == "X-900")))
    fake.seen.clear()
    report = search.sync_items(db)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 1, 500)
    assert fake.seen == []


def test_another_embedder_rebuilds_the_collection(module_demo: Database, tmp_path: Path) -> None:
    first = open_search_index(tmp_path, HashEmbedder("test:one"))
    first.sync_documents()
    second = open_search_index(tmp_path, HashEmbedder("test:two"))
    report = second.sync_documents()
    assert report.added == len(load_chunks()) and report.unchanged == 0


# --- policy documents -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "doc"),
    [
        ("customer is on credit hold, how do I get the order released?", "credit-holds"),
        ("what markup do we charge when the UK buys stock from America?", "intercompany-transfers"),
        ("the customer wants to send back goods, is there a restocking fee?", "returns-rma"),
        ("a supplier is late and customers are waiting on backorders, what do I do?", "expediting-backorders"),
    ],
)
def test_a_policy_question_finds_its_document_first(
    module_demo: Database, index: SearchIndex, question: str, doc: str
) -> None:
    result = REGISTRY.call(module_demo, _ctx(module_demo, index), "search_policies", {"query": question}).data
    passages = result["passages"]
    assert passages[0]["doc"] == doc
    assert all(len(p["text"]) <= 602 and p["title"] and p["section"] for p in passages)


def test_policy_search_without_an_index_says_how_to_build_one(module_demo: Database) -> None:
    error = REGISTRY.call(
        module_demo, _ctx(module_demo, None), "search_policies", {"query": "credit hold release"}
    ).error
    assert error is not None and error.code == "search_unavailable" and "erp-assistant index" in error.message


def test_policy_search_on_an_empty_index_says_how_to_build_one(module_demo: Database, tmp_path: Path) -> None:
    empty = open_search_index(tmp_path, HashEmbedder())
    error = REGISTRY.call(
        module_demo, _ctx(module_demo, empty), "search_policies", {"query": "credit hold release"}
    ).error
    assert error is not None and error.code == "search_unavailable" and not empty.is_built()


def test_documents_chunk_by_section_and_keep_title_and_heading() -> None:
    chunks = split_markdown("doc", "# Title\n\nIntro.\n\n## First\n\nOne.\n\n## Second\n\nTwo.\n")
    assert [(c.title, c.section, c.text) for c in chunks] == [
        ("Title", "Overview", "Intro."),
        ("Title", "First", "One."),
        ("Title", "Second", "Two."),
    ]
    assert chunks[1].embed_text.startswith("Title: First") and chunks[1].id == "doc#first"


def _policy_numbers() -> set[int]:
    """Every number a rule of the default policy compares with."""
    policy = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    found: set[int] = set()
    for rule in policy["rules"]:
        for condition in (rule.get("when") or {}).values():
            limits = condition.values() if isinstance(condition, dict) else []
            found.update(int(v) for v in limits if isinstance(v, int | float) and not isinstance(v, bool))
    return found


def test_dollar_figures_in_the_documents_are_policy_thresholds_or_approval_limits() -> None:
    allowed = _policy_numbers() | {u.approval_limit_usd for u in USERS} | {500}  # 500: PACAIR's minimum order
    text = "\n".join(c.text for c in load_chunks())
    figures = {int(n.replace(",", "")) for n in re.findall(r"USD ([\d,]+)", text)}
    assert figures and figures <= allowed, figures - allowed


def test_the_intercompany_markups_in_the_document_are_the_master_data() -> None:
    passage = next(c for c in load_chunks() if c.doc == "intercompany-transfers" and "markup" in c.section.lower())
    rows = re.findall(r"\| (NA|UK|SEA) \| (NA|UK|SEA) \| (\d+)% \|", passage.text)
    assert {(a, b): int(pct) for a, b, pct in rows} == INTERCOMPANY_MARKUP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("three-quarter inch brass valve", ["3/4in", "brass", "valve"]),
        ('3/4" valves', ["3/4in", "valve"]),
        ("an inch and a half", ["1-1/2in"]),
        ("two and a half ton", ["2-1/2ton"]),
        ("1.5 inch", ["1-1/2in"]),
        ("one-inch brass valves", ["1in", "brass", "valve"]),
        ("3/4-inch pipe", ["3/4in", "pipe"]),
        ("one horsepower", ["1hp"]),
        ("12 gauge wire", ["12awg", "wire"]),
        ("half inch quarter-turn valve", ["1/2in", "quarter-turn", "valve"]),
    ],
)
def test_sizes_are_written_as_the_catalogue_writes_them(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_items_a_query_fits_equally_are_named_as_equals_not_as_one_best_match(
    module_demo: Database, index: SearchIndex
) -> None:
    """Meaning ranks one of the three brass tees first; the words do not say which size, so the facts list all three
    as equally good instead of calling the first the best match. A size in the query makes one the best match."""
    tees = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": "brass tee"}).data
    assert tees["facts"][0].startswith(f"{len(tees['items'])} item(s) match 'brass tee'; these 3 fit its words equally")
    assert all(f"{sku} (Brass tee " in tees["facts"][0] for sku in ("FT-210", "FT-600", "FT-630"))
    one = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": "1in brass tee"}).data
    assert "the best match is FT-630 (Brass tee 1in, unit EA)" in one["facts"][0]
    exact = REGISTRY.call(module_demo, _ctx(module_demo, index), "find_items", {"query": "FT-600 brass tee"}).data
    assert "the best match is FT-600" in exact["facts"][0]
