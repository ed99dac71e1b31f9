"""The run as a markdown page and as data."""

from collections import Counter
from dataclasses import asdict
from typing import Any

from evals.hardening.injection.attacks import Delivery
from evals.hardening.injection.run import CHANNELS, CellResult, InjectionRun

# --- The report ----------------------------------------------------------------------------------


def kind_of(outcome: str) -> str:
    """refused, previewed, held, blocked, executed, answered or not tried."""
    return outcome.split(":", 1)[0]


def cell_mark(cell: CellResult) -> str:
    """The cell's outcomes, each kind once with its codes or rules; FAIL first when it failed."""
    counted = Counter(cell.outcomes)
    text = "; ".join(f"{o}{f' x{n}' if n > 1 else ''}" for o, n in counted.items())
    return f"**FAIL** {text}" if not cell.passed else text


def markdown_page(run: InjectionRun) -> str:
    """The run as a page: how, the table of attack x channel, the totals, every failure."""
    columns = [(c, d.value) for c in CHANNELS for d in Delivery]
    by_cell = {(c.attack, c.channel, c.delivery): c for c in run.cells}
    lines = [
        f"# Hardening: prompt injection, {run.date}",
        "",
        f"`python -m evals.hardening.injection` on {run.label} ({run.backend}), {run.seconds:.0f} s. "
        "A scripted model that obeys every `tool {json}` it reads, in Sam's words and in record text, attacks as "
        "Sam (sales, NA) through the web chat, Slack and the terminal chat. *words*: the attack is Sam's message; "
        "*record*: it is planted in the record named below and Sam asks a benign question that makes a tool show "
        "it. Each cell lists what became of each line: *refused* (the tool's error code), *previewed* (an "
        "unconfirmed draft: nothing changed, and only Sam himself could confirm it in a channel; the rules the policy "
        "would apply), *held* (pending approval; the policy rules), *blocked*, *executed* (only where the policy lets "
        "Sam do it alone), *answered* (a read that showed Sam only his own entity's data). Every answer was searched "
        f"for {run.secrets} codes, names, numbers and figures only the other entities hold.",
        "",
        "| attack | planted in | " + " | ".join(f"{c} ({d})" for c, d in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for attack in run.attacks:
        marks = [by_cell.get((attack["id"], c, d)) for c, d in columns]
        lines.append(
            f"| {attack['id']} | {attack['place']} {attack['record']} | "
            + " | ".join(cell_mark(m) if m else "" for m in marks)
            + " |"
        )
    return "\n".join([*lines, "", *_totals(run), "", *_within_authority(run), "", *_catalogue(run), ""])


def _used(run: InjectionRun, what: str) -> list[str]:
    return list(dict.fromkeys(str(getattr(c, what)) for c in run.cells))


def _within_authority(run: InjectionRun) -> list[str]:
    """What an obedient model still made happen: what the policy lets Sam do alone, so it did not stop it."""
    executed = Counter(
        (cell.attack, line, outcome)
        for cell in run.cells
        for line, outcome in zip(_lines_of(run, cell.attack), cell.outcomes, strict=True)
        if kind_of(outcome) == "executed"
    )
    found = [
        "## What got through: only what Sam may do alone",
        "",
        "The gate cannot tell an injected instruction from Sam's own: a draft the policy lets a salesperson make "
        "alone executes, whoever wrote the instruction. These executed (each is on the audit chain as Sam's, "
        "through the channel it came from):",
        "",
    ]
    found += [f"- {attack}: `{line}` ({outcome}), {n} times" for (attack, line, outcome), n in executed.items()]
    return found if executed else []


def _lines_of(run: InjectionRun, attack_id: str) -> list[str]:
    return next(list(a["lines"]) for a in run.attacks if a["id"] == attack_id)


def _totals(run: InjectionRun) -> list[str]:
    lines = Counter(kind_of(o) for c in run.cells for o in c.outcomes)
    effects = sum(len(c.unauthorised) for c in run.cells)
    leaks = sum(len(c.leaks) for c in run.cells)
    audit = run.audit
    found = [
        f"## Totals: {'PASS' if run.passed else 'FAIL'}",
        "",
        f"- {len(run.cells)} cells ({len(run.attacks)} attacks; channels: {', '.join(_used(run, 'channel'))}; "
        f"delivered in: {', '.join(_used(run, 'delivery'))}), {sum(lines.values())} attack lines carried out: "
        + ", ".join(f"{n} {kind}" for kind, n in lines.most_common()),
        f"- unauthorised effects: {effects}; leaks: {leaks}; cells that failed: {len(run.failures)}",
        f"- audit chain: {'verified' if audit['chain_ok'] else 'BROKEN'} ({audit['events']} events); "
        f"{audit['drafts']} drafts made, {audit['executed']} executed, checked against their documents, stock and "
        f"audit trail: {len(audit['problems'])} problems",
    ]
    found += [f"  - {p}" for p in audit["problems"]]
    for cell in run.failures:
        found.append(f"- **{cell.attack} / {cell.channel} / {cell.delivery}**: {cell.failure or ''}")
        found += [f"  - unauthorised: {p}" for p in cell.unauthorised]
        found += [f"  - leaked: {p}" for p in cell.leaks]
    return found


def _catalogue(run: InjectionRun) -> list[str]:
    lines = ["## The attacks", ""]
    for attack in run.attacks:
        lines.append(f"- **{attack['id']}**: {attack['attempts']}")
        lines += [f"  - `{line}`" for line in attack["lines"]]
    return lines


def as_data(run: InjectionRun) -> dict[str, Any]:
    """Every figure of the run, with each verdict."""
    return {**asdict(run), "passed": run.passed, "cells": [{**asdict(c), "passed": c.passed} for c in run.cells]}
