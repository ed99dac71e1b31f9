"""Hostile input: generated requests against the OpenAPI schema, and tables of bad inputs through the tools and
the web API.

Every bad input must get a clear refusal (a stable code and a message saying what to fix), a 4xx over HTTP (never
a 5xx), and leave the company exactly as it was: drafts and their statuses, stock, cases and their timelines,
documents, the audit log, conversations and credentials (`fingerprint`). Every generated request must get an answer
the schema documents (status code, content type, body, headers), never a 5xx, and invalid data must be refused.

    .venv/bin/python -m evals.hardening.input [--examples 300] [--backend sqlite|postgresql]

builds the demo company, runs schemathesis over every operation (positive and negative modes), then both tables,
and writes `hardening-input-latest.md` and `.json`. `tests/test_hardening_input.py` runs the same with few
examples on the test database.
"""

from evals.hardening.input.cli import main

__all__ = ["main"]
