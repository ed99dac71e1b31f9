"""`erp-assistant orders cancel | reallocate | backorders` end to end on a seeded SQLite file."""

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from tests import web
from tests.test_cli_shipping import _reserved_line

T = TypeVar("T")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-orders') / 'erp.db'}"
    result = _cli(url, "seed", "--items", "300", "--customers", "40", "--history-months", "2")
    assert result.exit_code == 0, result.output
    yield url


def _cli(url: str, *args: str) -> Result:
    env = {"ERP_DATABASE_URL": url, "COLUMNS": "220", "ERP_TODAY": "2026-11-20"}
    return CliRunner().invoke(app, list(args), env=env)


def _run(url: str, command: Callable[[Session], T]) -> T:
    db = Database.from_url(url)
    try:
        return db.run(command)
    finally:
        db.engine.dispose()


def test_a_manager_reallocates_and_the_queue_lists_the_waiting_order(seeded: str) -> None:
    order, line = _reserved_line(seeded)
    waiting = _run(seeded, lambda s: web.waiting_order(s, order, line))
    queue = _cli(seeded, "orders", "backorders", "--user", "maria")
    assert queue.exit_code == 0, queue.output
    assert "Backorders by priority" in queue.output and waiting in queue.output  # a narrow table wraps the line
    moved = _cli(
        seeded, "orders", "reallocate", order, waiting, "--line", str(line), "--quantity", "1",
        "--reason", "rush", "--user", "maria", "--yes",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output
    assert "reallocation — executed" in moved.output and "1 reserved → backordered" in moved.output


def test_sales_cancels_a_line_and_bad_requests_are_refused(seeded: str) -> None:
    order, line = _reserved_line(seeded)
    warehouse = _cli(seeded, "orders", "cancel", order, "--reason", "not mine", "--user", "wes", "--yes")
    assert warehouse.exit_code == 1 and "permission_denied" in warehouse.output
    unknown = _cli(seeded, "orders", "cancel", order, "--line", "99", "--reason", "gone", "--user", "sam", "--yes")
    assert unknown.exit_code == 1 and "invalid_input" in unknown.output
    args = ("orders", "cancel", order, "--line", str(line), "--user", "sam", "--yes")
    done = _cli(seeded, *args, "--reason", "customer called")
    assert done.exit_code == 0, done.output
    assert "order_cancel — " in done.output and "reserved units released" in done.output
    again = _cli(seeded, *args, "--reason", "twice")
    # nothing of that line is open any more: the order is cancelled (its only line) or the line has left it
    assert again.exit_code == 1 and ("invalid_state" in again.output or "has no line" in again.output)
