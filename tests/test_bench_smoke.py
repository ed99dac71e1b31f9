"""The core benchmark's measurements on a small demo company: they must measure real work.

No timing targets here (timings depend on the machine); only properties that hold anywhere.
"""

import os
from collections.abc import Iterator

import pytest

from core.db import Database
from evals.common.datasets import DatasetSpec, PostgresStore, SqliteStore, Store, dataset
from evals.common.measures import (
    ATP_VARIANTS,
    SELL,
    all_skus,
    measure_atp,
    measure_statements,
    measure_throughput,
    order_pool,
    percentile,
)
from evals.common.postgres import parse_tps

SMALL = DatasetSpec(items=300, history_months=1, seed=7)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def small_company(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The demo company at 300 items, loaded through the benchmark's own dataset code."""
    folder = tmp_path_factory.mktemp("bench")
    store: Store = (
        SqliteStore(folder, folder)
        if request.param == "sqlite"
        else PostgresStore(work=f"erp_bench_smoke_{os.getpid()}")
    )
    with dataset(store, SMALL, cache_dir=None, pool_size=6) as (db, _load):
        yield db


def test_every_atp_lookup_is_timed_and_answers(small_company: Database) -> None:
    skus = all_skus(small_company)
    for variant in ATP_VARIANTS:
        result = measure_atp(small_company, variant, username="grace", skus=skus, lookups=30, seed=1, warmup=3)
        assert result.latency.count == 30
        assert result.warehouse_rows >= 30  # every look-up reported at least one warehouse
        assert 0 < result.latency.p50_ms <= result.latency.p95_ms <= result.latency.max_ms


def test_statements_per_order_are_counted_and_the_same_on_a_recount(small_company: Database) -> None:
    pool = order_pool(small_company, entity="NA")
    report = measure_statements(small_company, username="sam", pool=pool, seed=3)
    assert all(count.count == len(count.statements) > 0 for count in report.counts)
    assert report.count_of(SELL) == report.recount
    assert any(s.sql.startswith("INSERT INTO reservations") for s in report.counts[-1].statements)
    assert all(s.origin.startswith("core/") for c in report.counts for s in c.statements)


def test_concurrent_clients_confirm_orders_without_errors(small_company: Database) -> None:
    pool = order_pool(small_company, entity="NA")
    result = measure_throughput(small_company, username="sam", pool=pool, clients=4, seconds=1.5, seed=5)
    assert result.errors == 0, result.error_kinds
    assert result.orders_confirmed > 0
    assert result.latency is not None
    assert result.latency.count == result.orders_confirmed
    assert result.latency.p50_ms <= result.latency.p95_ms


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([4.0], 0.95)) == (50.0, 95.0, 4.0)


def test_pgbench_tps_is_read_from_its_report() -> None:
    output = (
        "number of failed transactions: 0 (0.000%)\n"
        "latency average = 8.1 ms\n"
        "tps = 981.234567 (without initial connection time)\n"
    )
    assert parse_tps(output) == pytest.approx(981.234567)
