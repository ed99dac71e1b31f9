"""Fixtures: `db` (empty schema), `world` (a small hand-built company), `demo_db` (the demo company).

Each is parametrized over SQLite and PostgreSQL.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.db import Database
from tests.databases import BACKENDS, Template, drop_orphaned_databases
from tests.world import World, build_world

os.environ.setdefault("ERP_TODAY", "2026-11-20")


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("templates")


@pytest.fixture(scope="session")
def templates(template_dir: Path) -> Iterator[dict[tuple[str, str], Template]]:
    drop_orphaned_databases()
    made: dict[tuple[str, str], Template] = {}
    yield made
    for template in made.values():
        template.drop()


def _template(templates: dict[tuple[str, str], Template], template_dir: Path, backend: str, label: str) -> Template:
    if (backend, label) not in templates:
        fill = {"empty": None, "world": _fill_world, "demo": _fill_demo}[label]
        templates[(backend, label)] = Template(backend, template_dir, label, fill)
    return templates[(backend, label)]


def _fill_world(db: Database) -> None:
    build_world(db)


def _fill_demo(db: Database) -> None:
    from core.demo import DemoConfig, load_demo

    load_demo(db, DemoConfig())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(
    backend: str, templates: dict[tuple[str, str], Template], template_dir: Path, tmp_path: Path
) -> Iterator[Database]:
    """An empty, migrated database."""
    with _template(templates, template_dir, backend, "empty").clone(tmp_path) as database:
        yield database


@pytest.fixture
def world(
    backend: str, templates: dict[tuple[str, str], Template], template_dir: Path, tmp_path: Path
) -> Iterator[World]:
    """The small hand-built company of tests/world.py, fresh for each test."""
    with _template(templates, template_dir, backend, "world").clone(tmp_path) as database:
        yield World(database)


@pytest.fixture
def demo_db(
    backend: str, templates: dict[tuple[str, str], Template], template_dir: Path, tmp_path: Path
) -> Iterator[Database]:
    """The demo company (default size), fresh for each test."""
    with _template(templates, template_dir, backend, "demo").clone(tmp_path) as database:
        yield database


@pytest.fixture
def pg_world(templates: dict[tuple[str, str], Template], template_dir: Path, tmp_path: Path) -> Iterator[World]:
    """The small company on PostgreSQL only, for concurrency tests."""
    with _template(templates, template_dir, "postgresql", "world").clone(tmp_path) as database:
        yield World(database)


@pytest.fixture
def sqlite_world(templates: dict[tuple[str, str], Template], template_dir: Path, tmp_path: Path) -> Iterator[World]:
    """The small company on SQLite only (its single-writer lock is what is under test)."""
    with _template(templates, template_dir, "sqlite", "world").clone(tmp_path) as database:
        yield World(database)


@pytest.fixture
def sqlite_demo(templates: dict[tuple[str, str], Template], template_dir: Path, tmp_path: Path) -> Iterator[Database]:
    """The demo company on SQLite only (for the assistant's channels, which are not backend tests)."""
    with _template(templates, template_dir, "sqlite", "demo").clone(tmp_path) as database:
        yield database


@pytest.fixture
def world_template(backend: str, templates: dict[tuple[str, str], Template], template_dir: Path) -> Template:
    """The world template itself, for tests that clone it many times (property tests)."""
    return _template(templates, template_dir, backend, "world")


# The modules whose tests run the local model (marked local_model): under `pytest -n N` (as `make test` runs)
# they all go to one worker, which loads the 1.1 GB model once, while the other workers take the rest.
LOCAL_MODEL_MODULES = frozenset(
    {"tests/test_local_model.py", "tests/test_local_assistant.py", "tests/test_eval_smoke.py"}
)


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
