"""`python -m evals.hardening.injection`."""

from evals.hardening.injection.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
