"""Fixtures: `db` (empty schema), `world` (a small hand-built company), `demo_db` (the demo company), each on
SQLite and PostgreSQL; their one-backend variants; the web's `demo` and `client`; `fake_clock`.

Every database fixture is a fresh clone of a migrated template (tests/databases.py), made by `fresh`.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from core.db import Database
from tests.databases import BACKENDS, Fill, Fresh, Template, Templates, drop_orphaned_databases
from tests.fake_clock import FakeClock, freeze
from tests.world import World, build_world

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

os.environ.setdefault("ERP_TODAY", "2026-11-20")


def _fill_demo(db: Database) -> None:
    from core.demo import DemoConfig, load_demo

    load_demo(db, DemoConfig())


FILLS: dict[str, Fill | None] = {"empty": None, "world": build_world, "demo": _fill_demo}


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    drop_orphaned_databases()
    made = Templates(tmp_path_factory.mktemp("templates"), FILLS)
    yield made
    made.drop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh(templates: Templates, tmp_path: Path) -> Fresh:
    """The factory behind every database fixture: `with fresh(backend, label) as db:` a clone, dropped after."""
    return lambda backend, label: templates.clone(backend, label, tmp_path)


@pytest.fixture
def db(backend: str, fresh: Fresh) -> Iterator[Database]:
    """An empty, migrated database."""
    with fresh(backend, "empty") as database:
        yield database


@pytest.fixture
def world(backend: str, fresh: Fresh) -> Iterator[World]:
    """The small hand-built company of tests/world.py, fresh for each test."""
    with fresh(backend, "world") as database:
        yield World(database)


@pytest.fixture
def demo_db(backend: str, fresh: Fresh) -> Iterator[Database]:
    """The demo company (default size), fresh for each test."""
    with fresh(backend, "demo") as database:
        yield database


@pytest.fixture
def pg_world(fresh: Fresh) -> Iterator[World]:
    """The small company on PostgreSQL only, for concurrency tests."""
    with fresh("postgresql", "world") as database:
        yield World(database)


@pytest.fixture
def sqlite_world(fresh: Fresh) -> Iterator[World]:
    """The small company on SQLite only (its single-writer lock is what is under test)."""
    with fresh("sqlite", "world") as database:
        yield World(database)


@pytest.fixture
def sqlite_demo(fresh: Fresh) -> Iterator[Database]:
    """The demo company on SQLite only (for the assistant's channels, which are not backend tests)."""
    with fresh("sqlite", "demo") as database:
        yield database


@pytest.fixture
def world_template(backend: str, templates: Templates) -> Template:
    """The world template itself, for tests that clone it many times (property tests)."""
    return templates.get(backend, "world")


# --- The web's company and client, and a clock -------------------------------------------------------


@pytest.fixture
def demo(sqlite_demo: Database) -> Database:
    """The demo company on SQLite, where the web tests' users (tests/web.py WEB_USERS) can sign in."""
    from tests import web

    web.set_passwords(sqlite_demo, *web.WEB_USERS)
    return sqlite_demo


@pytest.fixture
def client(demo: Database, tmp_path: Path) -> Iterator["TestClient"]:
    """The web service over `demo`, with a scripted model that has nothing to say."""
    from tests import web

    with web.app(demo, tmp_path) as c:
        yield c


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """`core.clock.now` stands still for this test until the test advances it."""
    return freeze(monkeypatch)


# The modules whose tests run the local model (marked local_model; the suite's short real-model check): under
# `pytest -n N` (as `make test` runs) they all go to one worker, which loads the 1.1 GB model once, while the
# other workers take the rest. The long real-model runs are `make eval` and the local model's benchmark.
LOCAL_MODEL_MODULES = frozenset({"tests/test_local_model.py", "tests/test_local_assistant.py"})


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown when pytest runs without it (-p no:xdist)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's pull-based scope scheduling, with one scope for the local model's modules and one per test
    otherwise (xdist's own `loadgroup` no longer groups on pytest 9.2: it renames `item._nodeid`)."""
    from xdist.scheduler import LoadScopeScheduling

    class LocalModelTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "local_model" if nodeid.split("::")[0] in LOCAL_MODEL_MODULES else nodeid

    return LocalModelTogether(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A local_model test outside LOCAL_MODEL_MODULES would load a second copy of the model on another worker."""
    stray = sorted(
        {i.nodeid.split("::")[0] for i in items if i.get_closest_marker("local_model")} - LOCAL_MODEL_MODULES
    )
    if stray:
        raise pytest.UsageError(f"local_model tests in {stray}: add the modules to LOCAL_MODEL_MODULES in conftest.py")


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal channel's console at 200 columns, whatever the environment (a pytest-xdist worker's console is
    80 wide, so a table's cells wrap and a test's words split)."""
    from assistant.channels.terminal.console import console

    monkeypatch.setattr(console, "_width", 200)
