"""The web service under load, measured from a second process over loopback.

    .venv/bin/python -m evals.bench.web_load [--users 50] [--turns 3] [--workers 1 2]
        [--backend postgresql|sqlite] [--think-ms 0 [10000]] [--local-model] [--local-users 4] [--out evals/results]

For each worker count it loads the demo company into a fresh database, starts the real server
(`uvicorn assistant.channels.web.app:app_from_env --factory`) as a subprocess on a free loopback port,
with the scripted model `evals.common.scripted_load.bench_script` (its replies cost nothing, so the figures are the
service's own cost), and drives it with httpx from this process: `--users` staff users, each signed in
with its own session and conversation, send `--turns` messages in sequence and read the SSE stream,
and confirm the previews their turns made (`POST /api/drafts/{number}/confirm`, the draft card's Confirm),
while two managers poll their approvals inbox and approve the transfers the users confirmed.
It times the first event and the `answer` event of every turn, the confirmations, the approvals, and counts errors.
`--local-model` adds a small run on the default local model: a few users asking one stock question
each at once, for the time to the first token and the queue positions they were shown.
Every database and server it starts is gone at the end. Results: evals/results/web_load-latest.{md,json}.
"""

from evals.bench.web_load.cli import main

__all__ = ["main"]
