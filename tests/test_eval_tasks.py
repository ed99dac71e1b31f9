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


def _calls(task: Task) -> int:
    return sum(len(turn.calls) + len(turn.then) for turn in task.reference)


def _tagged(tag: str) -> list[Task]:
    return [t for t in TASKS if tag in t.tags]


def test_the_suite_has_the_honest_kinds_multistep_correction_ambiguity_faithfulness() -> None:
    """Issue 16: single messages needing 2-4 calls, corrections half-way, questions instead of guesses, and
    states and labelled figures stated truly."""
    multistep = _tagged("multistep")
    assert all(len(t.turns) == 1 and 1 <= _calls(t) <= 4 for t in multistep), [t.id for t in multistep]
    assert len([t for t in multistep if _calls(t) >= 2]) >= 20
    corrections = _tagged("correction")
    assert len(corrections) >= 6
    for task in corrections:  # the first preview is corrected, not confirmed; the corrected one is
        assert len(task.turns) >= 2 and task.confirm == [False] * (len(task.turns) - 1) + [True], task.id
        assert task.expect.drafts and task.expect.no_drafts, task.id
    ambiguity = _tagged("ambiguity")
    assert len(ambiguity) >= 8
    for task in ambiguity:  # a question, never a guess: the reference reads or asks, and drafts nothing
        assert task.confirm is False and task.expect.no_new_drafts and task.expect.answer_contains, task.id
        assert not any(c.tool.startswith(("draft_", "request_")) for r in task.reference for c in r.calls), task.id
    faithfulness = _tagged("faithfulness")
    assert len(faithfulness) >= 6
    assert all(t.expect.answer_excludes or t.expect.answer_numbers for t in faithfulness)


def test_the_new_kinds_carry_two_rephrasings_each() -> None:
    kinds = {"multistep", "correction", "ambiguity", "faithfulness"}
    for task in [t for t in TASKS if kinds & set(t.tags)]:
        assert len(task.rephrased) >= 2, task.id
        assert all(wording != task.turns for wording in task.rephrased), task.id
        assert len({tuple(w) for w in task.rephrased}) == len(task.rephrased), task.id
        assert [task.wording(k) for k in range(3)] == [task.turns, *task.rephrased[:2]]


def test_every_task_has_a_reference_solution() -> None:
    assert [t.id for t in TASKS if not t.reference] == []


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_the_reference_solution_passes(task: Task, template: Path, search: SearchIndex, tmp_path: Path) -> None:
    reference = reference_model(task)
    trial = run_trial(task, 1, template, tmp_path, reference.model, search=search)
    assert reference.errors == [], trial.answers  # every figure it quotes was in a tool result
    assert trial.passed, (trial.failures, trial.violations, trial.answers)
