"""The scale report on a tiny catalogue: every point measured in its own process, every figure present."""

import json
from pathlib import Path
from typing import Any

import pytest

from evals.hardening.scale import main, throttled

QUERIES = {
    "ATP sku",
    "ATP sku + warehouse",
    "ATP sku + date (+30 d)",
    "order create",
    "order confirm",
    "KPIs 90 days",
    "KPIs 1 year",
}


def test_progress_is_forwarded_sparingly_but_always_at_the_end_of_a_stage() -> None:
    sent: list[tuple[Any, ...]] = []
    report = throttled(sent.append)
    for done in range(1, 1001):
        report("writing history", done, 1000)
    assert sent[0] == ("progress", "writing history", 1, 1000)
    assert sent[-1] == ("progress", "writing history", 1000, 1000) and len(sent) < 10


@pytest.mark.slow
def test_a_small_run_reports_load_size_memory_and_query_times_per_size(tmp_path: Path) -> None:
    argv = ["--items", "1000,2000", "--backends", "sqlite", "--history-months", "2"]
    argv += ["--lookups", "20", "--orders", "5", "--kpi-calls", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    report = json.loads((tmp_path / "hardening-scale-latest.json").read_text())
    points = report["points"]
    assert [(p["backend"], p["items"]) for p in points] == [("sqlite", 1000), ("sqlite", 2000)] and not report["failed"]
    for point in points:
        assert point["load_s"] > 0 and point["size_mb"] > 0 and point["generated"]["ledger_rows"] > 0
        assert point["load_peak_rss_mb"] >= point["baseline_rss_mb"] > 0 and point["query_peak_rss_mb"] > 0
        counts = {q["query"]: q["latency"]["count"] for q in point["queries"]}
        assert set(counts) == QUERIES
        assert counts["ATP sku"] == 20 and counts["order confirm"] == 5 and counts["KPIs 1 year"] == 1
    assert points[1]["generated"]["ledger_rows"] > points[0]["generated"]["ledger_rows"]
    page = (tmp_path / "hardening-scale-latest.md").read_text()
    assert "| sqlite | 2,000 | 2 |" in page and "### Growth from the smallest to the largest run" in page
    assert "| sqlite | order confirm p50 ms |" in page and "| x2.0 |" in page
