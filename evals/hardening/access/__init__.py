"""Who may do what: the access matrix, predicted from the definitions and observed as each user.

For every demo user with one role in NA or in UK (plus the admin and the group manager, who see every
entity), every action on the records of NA and of UK is

- *expected* from the definitions alone: which roles a command needs (`core.actor.ROLE_PERMISSIONS`),
  who may handle an exception case (its routed role, or a managing role), which roles the policy file
  asks to approve a draft (`core.policy`), and each user's roles, entities and approval limit
  (`core.demo.directory`); and
- *performed* three ways: through the tools as that user (`tools.default_registry().call`), through
  the web API with that user's bearer token (the REST routes, and the chat, answered by a model that
  calls exactly the tool it is told to and answers with the tool's result), and over MCP (the same tool
  call as `tools/call` to /mcp of the web service, served on a loopback port, with that user's API token;
  a draft comes back as its unconfirmed preview, like the API's `confirm: false`). Over MCP nobody
  approves or rejects: a client that tries finds no such tool.

A cell agrees when every way says "allowed" (the record was shown, the draft was made, the decision
was recorded) exactly where the definitions allow it, and "denied" (403 `permission_denied` or
`out_of_scope`, 404 `not_found` for what is not theirs) everywhere else. Anything else (a different
answer, an error of another kind) is a finding.

    .venv/bin/python -m evals.hardening.access [--out evals/results]

builds the demo company in a temporary SQLite file, prints the matrix and writes
`hardening-access-latest.md`. `tests/test_hardening_access.py` runs the same on the test database.
"""

from evals.hardening.access.cli import main

__all__ = ["main"]
