"""`python -m evals.scenarios`: the scenario evaluation without going through `erp-assistant`."""

import typer

from evals.scenarios.cli import evaluate

if __name__ == "__main__":
    typer.run(evaluate)
