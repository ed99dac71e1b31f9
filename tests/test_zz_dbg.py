import os
from pathlib import Path
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from core.db import Database
from evals.scenarios.runner import Player, _play, demo_template
from evals.scenarios.cli import TASKS
from evals.scenarios.task import load_tasks
def test_dbg(tmp_path):
    template = demo_template(tmp_path / "demo.db")
    task = [t for t in load_tasks(TASKS) if t.id == "fix-order-change-quantity"][0]
    import shutil
    shutil.copy(template, tmp_path / "t.db")
    db = Database.from_url(f"sqlite:///{tmp_path / 't.db'}")
    script = Script([Reply(calls=(Call("draft_order_change", {"order_number": "SO-2253", "line_no": 1, "quantity": 20}),)), Reply(text="MODEL ASKED")])
    (tmp_path / "w").mkdir()
    trial = _play(task, 1, db, tmp_path / "w", Player(model=scripted_model(script)))
    print("\nRES", trial.passed, trial.failures, trial.answers, trial.calls, len(script.seen))
