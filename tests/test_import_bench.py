"""The import benchmark runs end to end on a few items: the figures it commits come from real imports."""

import json
from pathlib import Path

from evals.bench.import_bench import main


def test_the_import_benchmark_creates_then_leaves_everything_unchanged(tmp_path: Path) -> None:
    main(["--items", "50", "--results-dir", str(tmp_path)])
    result = json.loads((tmp_path / "import-bench.json").read_text())
    assert result["first"]["counts"]["items"] == {"created": 50, "updated": 0, "unchanged": 0, "refused": 0}
    assert result["again"]["counts"]["items"] == {"created": 0, "updated": 0, "unchanged": 50, "refused": 0}
    assert "Import benchmark" in (tmp_path / "import-bench.md").read_text()
