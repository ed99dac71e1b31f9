"""A small run on the default local model: time to the first token and queue positions."""

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

from rich.console import Console

from assistant.llm.weights import model_path
from core.settings import data_dir
from evals.bench.web_load.figures import LocalResult, LocalUser, Resources, Settings, TurnTiming, spread
from evals.bench.web_load.load import send_turn
from evals.bench.web_load.server import (
    Server,
    cpu_snapshot,
    demo_database,
    resources_between,
    running_server,
    server_env,
    wait_ready,
)
from evals.common.scripted_load import prepare_accounts
from evals.common.served import new_conversation, sign_in

LOCAL_QUESTIONS = (
    "How many V-200 do we have in Atlanta?",
    "what's available of V-200 at DAL",
    "is there any V-200 left in ATL today?",
    "stock of V-220 in Dallas",
)


# --- The local model -------------------------------------------------------------------------------


def local_model_reason() -> str | None:
    """Why the local model cannot run here (None if it can)."""
    from assistant.llm.local import unavailable_reason

    return unavailable_reason()


def local_env(url: str, workdir: Path) -> dict[str, str]:
    """The server's environment for the local model: the weights and prefix cache of this checkout's data
    folder (so the prompt prefix is computed once, not on every run), everything else in `workdir`."""
    env = server_env(url, workdir / "data", model=None)
    env["ERP_LOCAL_MODEL_PATH"] = str(model_path().resolve())
    shared = data_dir() / "models" / "prefix-cache"
    shared.mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "models").mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "models" / "prefix-cache").symlink_to(shared, target_is_directory=True)
    return env


async def drive_local(
    server: Server, password: str, users: int
) -> tuple[float, list[TurnTiming], list[str], Resources]:
    """One untimed warm-up turn (waits for the model and its prefix), then `users` stock questions at once."""
    await wait_ready(server)
    began = time.perf_counter()
    signed, _ = await sign_in(server.base_url, "sam", password)
    conversation = await new_conversation(signed)
    warm = await send_turn(signed, conversation, TurnTiming(-1, "sam", 0, "stock"), LOCAL_QUESTIONS[0])
    await signed.client.aclose()
    if warm.error:
        raise RuntimeError(f"the local model's warm-up turn failed: {warm.error}")
    warm_up_s = time.perf_counter() - began
    accounts = ["sam", "wes"]
    questions = [LOCAL_QUESTIONS[i % len(LOCAL_QUESTIONS)] for i in range(users)]
    signed_users = [(await sign_in(server.base_url, accounts[i % 2], password))[0] for i in range(users)]
    conversations = [await new_conversation(s) for s in signed_users]
    before = cpu_snapshot(server)
    timings = await asyncio.gather(
        *(
            send_turn(s, c, TurnTiming(i, accounts[i % 2], 0, "stock"), q)
            for i, (s, c, q) in enumerate(zip(signed_users, conversations, questions, strict=True))
        )
    )
    after = cpu_snapshot(server)
    for s in signed_users:
        await s.client.aclose()
    return warm_up_s, list(timings), questions, resources_between(before, after, "sqlite")


def measure_local(console: Console, run: Settings) -> LocalResult:
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="web_load-local-") as folder:
        workdir = Path(folder)
        console.log(f"local model, {run.backend}: loading the demo company")
        with demo_database(run.backend, workdir) as (url, db):
            prepare_accounts(db, ["sam", "wes"], password, transfers=0)
            env = local_env(url, workdir)
            console.log(f"local model: starting the server, then {run.local_users} users at once")
            with running_server(env, 1, workdir) as server:
                warm_up_s, timings, questions, resources = asyncio.run(drive_local(server, password, run.local_users))
            log = server.problems()
    rows = [
        LocalUser(
            t.account,
            q,
            t.queued,
            t.first_event_s,
            t.started_s,
            t.first_token_s,
            t.answer_s,
            t.tools,
            t.answer,
            t.error,
        )
        for t, q in zip(timings, questions, strict=True)
    ]
    return LocalResult(
        backend=run.backend,
        model="local (default): " + os.path.basename(env["ERP_LOCAL_MODEL_PATH"]),
        warm_up_s=warm_up_s,
        users=rows,
        first_token=spread([t.first_token_s for t in timings if t.first_token_s is not None]),
        answer=spread([t.answer_s for t in timings if t.answer_s is not None]),
        queue_wait=spread([t.started_s for t in timings if t.started_s is not None]),
        own_turn=spread(
            [t.answer_s - t.started_s for t in timings if t.answer_s is not None and t.started_s is not None]
        ),
        errors=sum(1 for t in timings if t.error),
        resources=resources,
        server_log_problems=log,
    )
