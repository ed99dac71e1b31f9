"""Every scenario task can be passed: its reference solution, played through the real assistant, passes it.

The reference makes the task's tool calls through the graph, the tools and the policy gate, and
answers with figures taken from what the tools returned, so a task whose expectation the core
contradicts (a wrong number, a draft status the policy would not give) fails here, not in a model run.
"""

from pathlib import Path

import pytest

from evals.scenarios.reference import reference_model
from evals.scenarios.runner import demo_search, demo_template, run_trial
from evals.scenarios.task import Task, load_tasks
from tools.search import SearchIndex

TASKS = load_tasks(Path(__file__).resolve().parents[1] / "evals" / "tasks")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_template(tmp_path_factory.mktemp("eval-tasks") / "demo.db")


@pytest.fixture(scope="module")
def search(template: Path) -> SearchIndex:
    return demo_search(template)  # policy questions need it, as in the product


def test_the_suite_covers_every_intent_with_at_least_80_tasks() -> None:
    tags = {tag for task in TASKS for tag in task.tags}
    assert len(TASKS) >= 80
    assert {"stock", "atp", "order", "credit", "transfer", "intercompany", "purchase", "order-change"} <= tags
    assert {"exception", "kpi", "policy", "multi-turn", "refusal", "injection", "entity"} <= tags
    assert len([t for t in TASKS if "smoke" in t.tags]) >= 20
    assert len([t for t in TASKS if "injection" in t.tags and t.setup != type(t.setup)()]) >= 3  # via record text


def test_every_task_has_a_reference_solution() -> None:
    assert [t.id for t in TASKS if not t.reference] == []


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_the_reference_solution_passes(task: Task, template: Path, search: SearchIndex, tmp_path: Path) -> None:
    reference = reference_model(task)
    trial = run_trial(task, 1, template, tmp_path, reference.model, search=search)
    assert reference.errors == [], trial.answers  # every figure it quotes was in a tool result
    assert trial.passed, (trial.failures, trial.violations, trial.answers)
    assert trial.contradictions == [], trial.answers  # a faithful answer is not flagged by the checker
