"""`python -m evals.hardening.access`: the matrix on the demo company in a temporary SQLite file."""

import argparse
import os
import tempfile
from pathlib import Path

from core.db import Database
from evals.common.company import BUSINESS_DATE
from evals.common.results import RESULTS_DIR
from evals.hardening.access.matrix import run_matrix
from evals.hardening.access.report import report


def _build_demo(path: Path) -> Database:
    from core import schema
    from core.demo import DemoConfig, load_demo

    db = Database.from_url(f"sqlite:///{path}")
    schema.upgrade(db.engine)
    load_demo(db, DemoConfig())
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.access", description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    with tempfile.TemporaryDirectory(prefix="erp-access-") as folder:
        db = _build_demo(Path(folder) / "erp.db")
        try:
            matrix = run_matrix(db, Path(folder))
        finally:
            db.dispose()
    text = report(matrix)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hardening-access-latest.md").write_text(text)
    return 1 if matrix.mismatches or not matrix.audit.ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
