"""`python -m evals.bench.web_load`."""

from evals.bench.web_load.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
