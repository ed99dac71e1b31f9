"""Faults: PostgreSQL restarted under load, and the model failing in the middle of a turn.

    .venv/bin/python -m evals.hardening.faults [--before 4] [--outage 4] [--after 10] [--out evals/results]

1. PostgreSQL restart. The web service (`create_app`, the scripted model of the web load benchmark)
   runs in this process under uvicorn, on a private PostgreSQL cluster (`private_pg`) that holds the
   demo company and the conversations. Staff read records, chat (stock questions through ATP, NA users
   also draft an over-limit transfer) and a manager approves, in loops over httpx; mid-run the cluster
   is stopped, kept down, and started again, while the service keeps running. Every request is timed
   and classified (before, during, after the outage); afterwards each chat thread must take one more
   message, no conversation may be left claimed, and `audit_check` must find stock, drafts and the
   audit chain consistent.
2. Model faults. Through the same HTTP chat, the model fails after a tool call and before the answer:
   a litellm Timeout, a provider error after a draft, and a provider (a fake OpenAI-compatible server)
   that hangs past the configured timeout. The user must get an `error` event that says what happened
   and what stands, the same thread must answer the next message, and the only write allowed is the
   draft the policy gate already judged, exactly once.

Results: evals/results/hardening-faults-latest.{md,json}.
"""

from evals.hardening.faults.cli import main

__all__ = ["main"]
