"""Demand planning from the terminal: an item's forecast, the forecasts' accuracy, demand anomalies."""

from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console
from core.planning.accuracy import Accuracy, accuracy_report
from core.planning.anomalies import demand_anomalies
from core.planning.demand import item_forecast

forecast_app = typer.Typer(help="Demand forecasts per item and warehouse, their accuracy, and demand anomalies.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Entity = Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")]


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


@forecast_app.command("show")
def show(
    sku: Annotated[str, typer.Argument(help="The item's SKU.")],
    warehouse: Annotated[str, typer.Option(help="Warehouse code, e.g. DAL.")],
    weeks: Annotated[int | None, typer.Option(help="Weeks of history (default the planning file's).")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """An item's weekly demand at a warehouse, its demand class, the method chosen and the next weeks' forecast."""
    made = ask(user, lambda s, actor: item_forecast(s, actor, sku=sku, warehouse=warehouse, weeks=weeks))
    e = made.estimate
    adi = "-" if made.adi is None else f"{made.adi:.2f}"
    shape = f"{made.demand_class} demand (ADI {adi}, CV² {made.cv2:.2f})"
    _say(f"{made.sku} at {made.warehouse}, as of {made.as_of}: {shape}")
    candidates = ", ".join(f"{m} {r:.2f}" for m, r in made.rmse_by_method.items()) or "-"
    _say(
        f"method {made.method}: {e.mean_weekly:.2f} units a week, one-week error {e.error_sd:.2f} (RMSE: {candidates})"
    )
    table = Table(title="Weekly demand and forecast")
    for column in ("week of", "ordered", "forecast"):
        table.add_column(column, justify="left" if column == "week of" else "right")
    for day, units in zip(made.week_starts, made.history, strict=True):
        table.add_row(day.isoformat(), str(units), "")
    for day, expected in zip(made.forecast_week_starts, e.forecast, strict=True):
        table.add_row(day.isoformat(), "", f"{expected:.2f}")
    console.print(table)


@forecast_app.command("accuracy")
def accuracy(entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Forecast accuracy over a rolling-origin holdout, per ABC class and per method."""
    report = ask(user, lambda s, actor: accuracy_report(s, actor, entity=entity))
    table = Table(title=f"Forecast accuracy, the last {report.holdout_weeks} weeks forecast one week ahead")
    for column in ("group", "keys", "weeks", "WAPE", "bias", "MAPE", "zero weeks"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for a in [*report.by_class, *report.by_method, report.overall]:
        percentages = (_pct(v) for v in (a.wape, a.bias, a.mape))
        table.add_row(_label(a, report.by_class), str(a.keys), str(a.weeks), *percentages, str(a.zero_weeks))
    console.print(table)
    _say(report.basis)


@forecast_app.command("anomalies")
def anomalies(entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Recent weeks far from the forecast made before them, with the orders that made them."""
    found = ask(user, lambda s, actor: demand_anomalies(s, actor, entity=entity))
    if not found:
        _say("no demand anomalies in the recent weeks")
        return
    for finding in found:
        _say(f"[{finding.severity.value}] {finding.title}")
        _say(f"  {finding.detail}")


def _label(a: Accuracy, classes: list[Accuracy]) -> str:
    return f"class {a.group}" if any(a is c for c in classes) else a.group


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
