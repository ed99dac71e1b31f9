"""Where a run's results go and how: every figure as JSON, the tables as a markdown page, one pair per run."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.common.tables import Grid, to_markdown

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def results_page(heading: str, method: str, grids: Iterable[Grid]) -> str:
    """A results page: its heading, how the figures were taken, then every table."""
    return "\n\n".join([heading, method, *(to_markdown(g) for g in grids)]) + "\n"


def write_results(folder: Path, stem: str, data: dict[str, Any], page: str) -> tuple[Path, Path]:
    """Write `<stem>-latest.json` (every figure) and `<stem>-latest.md` (the tables); shared by the hardening runs."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / f"{stem}-latest.json", folder / f"{stem}-latest.md"
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    md_path.write_text(page)
    return json_path, md_path


@dataclass(frozen=True)
class Check:
    check: str
    measured: str
    passed: bool


def checks_grid(checks: Sequence[Check]) -> Grid:
    """The verdicts of a hardening run, the first table of its page."""
    return Grid(
        "Checks", ("check", "measured", "result"), tuple((c.check, c.measured, verdict(c.passed)) for c in checks)
    )


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"
