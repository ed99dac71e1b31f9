"""Every scenario task can be passed: its reference solution, played through the real assistant, passes it.

The reference makes the task's tool calls through the graph, the tools and the policy gate, and
answers with figures taken from what the tools returned, so a task whose expectation the core
contradicts (a wrong number, a draft status the policy would not give) fails here, not in a model run.
"""

import re
from functools import partial
from pathlib import Path

import pytest

from core.db import Database
from core.numbering import KINDS, mention_pattern
from evals.scenarios.reference import reference_model
from evals.scenarios.runner import demo_search, demo_template, run_trial
from evals.scenarios.task import Task, load_tasks
from tools.search import SearchIndex, hybrid

TASKS = load_tasks(Path(__file__).resolve().parents[1] / "evals" / "tasks")
DOCUMENT = mention_pattern(KINDS)  # SO-2253, EX-2, INV-1481: a rephrasing must name the same ones
SKU = re.compile(r"\b[A-Z]{1,2}-[0-9O]{2,4}\b")  # V-200, FT-200, and the look-alike V-2OO a task asks about
# The only descriptions a rephrasing may say instead of a SKU: each one finds that item first in the demo
# catalogue (checked below), so the request stays as unambiguous as the SKU made it.
DESCRIBED = {
    "V-200": ["3/4 brass ball valve"],
    "V-210": ["1/2 brass ball valve", "half inch brass ball valve"],
    "FT-200": ["3/4 brass 90 elbow", "3/4 brass elbow"],
}
# Staff name a document by its kind's word and digits too ("order 2253", "case 4"), as the linker resolves them.
DOCUMENT_WORDS = {
    "SO": "order",
    "PO": "purchase order|po",
    "EX": "case|exception",
    "INV": "invoice",
    "DR": "draft",
    "RMA": "return|rma",
}


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
    assert trial.contradictions == [], trial.answers  # a faithful answer is not flagged by the checker


def _said(mention: str, text: str) -> bool:
    """Whether the text names this SKU or document number, in any case, with or without its dash ("so2253"), or
    a document by its kind's word ("order 2253")."""
    prefix, _, digits = mention.partition("-")
    said = rf"{prefix}[- ]?{digits}"
    if prefix in DOCUMENT_WORDS:
        said += rf"|(?:{DOCUMENT_WORDS[prefix]}) #?{digits}"
    return re.search(rf"(?<![A-Za-z0-9])(?:{said})(?![0-9])", text, re.IGNORECASE) is not None


def _described(description: str, text: str) -> bool:
    """Whether the text says this description, its words in any order, with "in"/"inch" after a size and plurals."""
    words = re.findall(r"[a-z0-9/]+", re.sub(r"(\d)\s*(?:in\b|inch\b|\")", r"\1", text.lower()))
    said = {w[:-1] if w.endswith("s") and not w.endswith("ss") else w for w in words}
    return all(w in said for w in description.split())


def _named(turn: str) -> tuple[list[str], list[str]]:
    """The document numbers and the SKUs a turn names."""
    documents = DOCUMENT.findall(turn)
    return documents, [sku for sku in SKU.findall(turn) if sku not in documents]


def test_every_task_is_worded_three_ways_so_pass_hat_3_measures_robustness_to_wording() -> None:
    for task in TASKS:
        assert len(task.rephrased) >= 2, task.id
        wordings = [task.turns, *task.rephrased]
        assert len({tuple(turn.lower() for turn in w) for w in wordings}) == len(wordings), task.id  # all differ
        for wording in task.rephrased:
            assert len(wording) == len(task.turns), task.id
            for original, rephrased in zip(task.turns, wording, strict=True):
                assert rephrased.strip().lower() != original.strip().lower(), (task.id, rephrased)


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_a_rephrasing_names_the_same_records(task: Task) -> None:
    """Document numbers survive every rephrasing; a SKU does too, unless a description that finds only it says it."""
    for wording in task.rephrased:
        for original, rephrased in zip(task.turns, wording, strict=True):
            documents, skus = _named(original)
            assert [d for d in documents if not _said(d, rephrased)] == [], (task.id, rephrased)
            unnamed = [
                sku
                for sku in skus
                if not _said(sku, rephrased) and not any(_described(d, rephrased) for d in DESCRIBED.get(sku, []))
            ]
            assert unnamed == [], (task.id, rephrased)


def test_a_description_said_instead_of_a_sku_finds_that_item_first(template: Path, search: SearchIndex) -> None:
    db = Database.from_url(f"sqlite:///{template}")
    try:
        for sku, descriptions in DESCRIBED.items():
            for description in descriptions:
                hits = db.read(partial(hybrid.find, query=description, limit=5, index=search))
                assert hits and hits[0].item.sku == sku, (description, [h.item.sku for h in hits])
    finally:
        db.dispose()


def test_the_trials_of_a_task_say_its_own_words_first_then_each_rephrasing_in_turn() -> None:
    task = Task.model_validate(
        {
            "id": "t",
            "user": "sam",
            "turns": ["How many V-200 in Dallas?"],
            "rephrased": [["v200 dal?"], ["v-200 @ DAL"]],
        }
        | {"expect": {}}
    )
    assert [task.wording(k) for k in range(4)] == [
        ["How many V-200 in Dallas?"],
        ["v200 dal?"],
        ["v-200 @ DAL"],
        ["v200 dal?"],
    ]
    with pytest.raises(ValueError, match="a rephrasing of 2 turns for 1 turns"):
        Task.model_validate({"id": "t", "user": "sam", "turns": ["a"], "rephrased": [["b", "c"]], "expect": {}})
