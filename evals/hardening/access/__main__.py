"""`python -m evals.hardening.access`."""

from evals.hardening.access.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
