"""`python -m evals.hardening.input`."""

from evals.hardening.input.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
