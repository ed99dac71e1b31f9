"""Entity linking and the argument check, measured on the demo company (sam, NA, ERP_TODAY=2026-11-20).

1. Mentions: the linker over the phrasing table's texts (each expected argument a linker could resolve:
   SKUs, warehouses, entities, customers, suppliers, document numbers, dates, counts) and over the item
   paraphrases (an item described in words): resolved right, ambiguous with the right one among the
   candidates, wrong, or not linked.
2. False blocks: the argument check over correct calls: the phrasing table's expected calls (with the user's
   text as the only evidence) and every eval task's reference, played through the real assistant; a call
   held (a question or a refusal), an argument dropped or a count corrected is counted against its task.

    python -m evals.bench.linking_bench [--no-references]
"""

import argparse
import json
import os
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from assistant import provenance
from assistant.linking import key
from core.db import Database
from core.masterdata.mentions import Linked, MentionKind, link_mentions
from core.masterdata.service import load_actor
from evals.bench.phrasings import DATASET, load
from tools import default_registry

TODAY = date(2026, 11, 20)
DATASETS = Path(__file__).resolve().parents[1] / "datasets"
LINKABLE = {
    "sku": MentionKind.ITEM,
    "warehouse": MentionKind.WAREHOUSE,
    "from_warehouse": MentionKind.WAREHOUSE,
    "to_warehouse": MentionKind.WAREHOUSE,
    "entity": MentionKind.ENTITY,
    "customer": MentionKind.CUSTOMER,
    "supplier": MentionKind.SUPPLIER,
    "order_number": MentionKind.DOCUMENT,
    "case_number": MentionKind.DOCUMENT,
    "draft_number": MentionKind.DOCUMENT,
    "on_date": MentionKind.DATE,
    "requested_date": MentionKind.DATE,
    "expected_date": MentionKind.DATE,
    "since": MentionKind.DATE,
    "until": MentionKind.DATE,
    "quantity": MentionKind.QUANTITY,
}


def _expected(args: dict[str, Any]) -> list[tuple[str, str]]:
    """(argument, expected value) for each argument a linker could resolve, lines included."""
    pairs: list[tuple[str, str]] = []
    for name, value in args.items():
        if isinstance(value, list):
            for line in value:
                pairs += _expected(line) if isinstance(line, dict) else []
        elif name in LINKABLE and not str(value).startswith("~"):
            pairs.append((name, str(value)))
    return pairs


def _judge(linked: Linked, name: str, expected: str) -> str:
    wanted = {key(v) for v in expected.split("|")}
    kind = LINKABLE[name]
    mentions = [m for m in linked.mentions if m.kind == kind or (kind == MentionKind.CUSTOMER and m.candidates)]
    if kind == MentionKind.QUANTITY:
        return "right" if any(key(m.number) in wanted for m in mentions) else "missed"
    if any(wanted & {key(i) for i in m.ids} for m in mentions):
        return "right"
    if kind == MentionKind.DOCUMENT and any(m.kind == kind and not m.ids for m in mentions):
        return "not found (as the core says)"
    if any(wanted & {key(c) for c in m.candidates} for m in mentions):
        return "ambiguous, right among candidates"
    return "missed (or another entity's)"


def mentions_report(db: Database) -> dict[str, Any]:
    def link(text: str) -> Linked:
        return db.read(lambda s: link_mentions(s, load_actor(s, username="sam"), text, TODAY))

    phrasing: Counter[str] = Counter()
    misses = []
    for row in load(DATASET):
        for name, expected in _expected(row.args):
            verdict = _judge(link(row.text), name, expected)
            phrasing[verdict] += 1
            if verdict.startswith("missed"):
                misses.append(f"{row.text!r}: {name}={expected} {verdict}")
    items: Counter[str] = Counter()
    for path in sorted(DATASETS.glob("item_paraphrases*.yaml")):
        for query in yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]:
            found = [m for m in link(query["query"]).mentions if m.kind == MentionKind.ITEM]
            if any(m.ids == (query["sku"],) for m in found):
                items["right"] += 1
            elif any(query["sku"] in m.candidates for m in found):
                items["ambiguous, right among candidates"] += 1
            elif any(m.ids or m.candidates for m in found):
                items["wrong (or ambiguous without it)"] += 1
            else:
                items["not linked (left to find_items)"] += 1
    return {"phrasing arguments": dict(phrasing), "misses": misses, "item paraphrases": dict(items)}


def phrasing_calls_report(db: Database) -> dict[str, Any]:
    """The phrasing table's expected calls, checked with the user's text as the only evidence."""
    tools = default_registry().tools
    sam = db.read(lambda s: load_actor(s, username="sam"))
    results: Counter[str] = Counter()
    blocked = []
    for row in load(DATASET):
        if row.tool is None or row.tool not in tools:
            continue
        arguments = _first_choice(row.args)
        evidence = provenance.conversation_evidence(db, sam, [{"role": "user", "content": row.text}], {})
        vetted = provenance.vet(tools[row.tool], arguments, evidence)
        outcome = _outcome(vetted)
        results[outcome] += 1
        if outcome != "passed unchanged":
            blocked.append(f"{row.text!r} -> {row.tool}: {outcome} {_why(vetted)}")
    return {"calls": dict(results), "not unchanged": blocked}


def _first_choice(args: Any) -> Any:
    if isinstance(args, dict):
        return {k: _first_choice(v) for k, v in args.items()}
    if isinstance(args, list):
        return [_first_choice(v) for v in args]
    return args.split("|")[0].lstrip("~") if isinstance(args, str) else args


def _outcome(vetted: provenance.Vetted) -> str:
    if vetted.asks:
        return "held: question"
    if vetted.invented:
        return "held: refused"
    if vetted.dropped or vetted.corrected:
        return "changed"
    return "passed unchanged"


def _why(vetted: provenance.Vetted) -> str:
    return json.dumps(
        {
            "dropped": vetted.dropped,
            "corrected": vetted.corrected,
            "gaps": [g.path for g in vetted.gaps],
            "unclear": [m.text for m in vetted.unclear],
            "invented": vetted.invented,
        }
    )


def references_report() -> dict[str, Any]:
    """Every eval task's reference played through the real assistant, with the check's verdicts recorded."""
    from evals.scenarios.reference import reference_model
    from evals.scenarios.runner import demo_search, demo_template, run_trial
    from evals.scenarios.task import load_tasks

    seen: list[tuple[str, str, provenance.Vetted]] = []
    current = {"task": ""}
    original = provenance.vet

    def recording(tool: Any, arguments: dict[str, Any], evidence: Any) -> provenance.Vetted:
        vetted = original(tool, arguments, evidence)
        seen.append((current["task"], tool.name, vetted))
        return vetted

    provenance.vet = recording
    tasks = load_tasks(Path(__file__).resolve().parents[1] / "tasks")
    failed = []
    with tempfile.TemporaryDirectory() as work:
        template = demo_template(Path(work) / "demo.db")
        search = demo_search(template)
        for task in tasks:
            current["task"] = task.id
            reference = reference_model(task)
            trial = run_trial(task, 1, template, Path(work), reference.model, search=search)
            if not trial.passed or reference.errors:
                failed.append(task.id)
    provenance.vet = original
    outcomes = Counter(_outcome(v) for _, _, v in seen)
    return {
        "tasks": len(tasks),
        "reference calls checked": len(seen),
        "calls": dict(outcomes),
        "not unchanged": [f"{t} {n}: {_outcome(v)} {_why(v)}" for t, n, v in seen if _outcome(v) != "passed unchanged"],
        "tasks whose reference fails": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-references", action="store_true", help="skip playing the eval tasks' references")
    args = parser.parse_args()
    os.environ.setdefault("ERP_TODAY", TODAY.isoformat())
    from evals.scenarios.runner import demo_template

    with tempfile.TemporaryDirectory() as work:
        db = Database.from_url(f"sqlite:///{demo_template(Path(work) / 'demo.db')}")
        report: dict[str, Any] = {"mentions": mentions_report(db), "phrasing calls": phrasing_calls_report(db)}
    if not args.no_references:
        report["references"] = references_report()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
