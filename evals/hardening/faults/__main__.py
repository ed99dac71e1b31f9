"""`python -m evals.hardening.faults`."""

from evals.hardening.faults.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
