"""The `erp-assistant` command: one Typer app, its command groups in the modules beside this one."""

from importlib.metadata import entry_points

import typer

from assistant.channels.terminal.chat import chat
from assistant.channels.terminal.console import fail
from assistant.cli.briefing import briefing
from assistant.cli.database import audit_verify, init, migrate, password, seed, status
from assistant.cli.forecast import forecast_app
from assistant.cli.gate import drafts_app, exceptions_app, policy_check
from assistant.cli.imports import import_app
from assistant.cli.index import index
from assistant.cli.integrations import integrations_app
from assistant.cli.masterdata import masterdata_app
from assistant.cli.mcp import mcp
from assistant.cli.model import model_app
from assistant.cli.orders import orders_app
from assistant.cli.payables import payables_app
from assistant.cli.planning import planning_app
from assistant.cli.product import run
from assistant.cli.queries import atp, credit, order
from assistant.cli.receivables import receivables_app
from assistant.cli.receiving import receive, transfers_app
from assistant.cli.replenishment import replenish_app
from assistant.cli.reports import reports_app
from assistant.cli.returns import returns_app
from assistant.cli.risks import risks_app
from assistant.cli.serve import serve
from assistant.cli.shipping import shipping_app
from assistant.cli.slack import slack_app
from assistant.cli.stock import stock_app
from assistant.cli.tokens import tokens_app
from assistant.cli.webhooks import webhooks_app
from core.settings import SettingsError, get_settings

PLUGIN_GROUP = "erp_assistant.commands"
app = typer.Typer(help="A conversational assistant over a deterministic ERP core.", no_args_is_help=True)


@app.callback()
def _check_settings() -> None:
    # Read the configuration before any command, so a bad value is named at once rather than mid-command.
    try:
        get_settings()
    except SettingsError as error:
        raise fail(error) from None


for command in (migrate, init, password, seed, status, atp, order, credit, receive, run, briefing):
    app.command()(command)
app.command("audit-verify")(audit_verify)
app.add_typer(drafts_app, name="drafts")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(shipping_app, name="shipping")
app.add_typer(transfers_app, name="transfer")
app.add_typer(stock_app, name="stock")
app.add_typer(orders_app, name="orders")
app.add_typer(returns_app, name="returns")
app.add_typer(reports_app, name="reports")
app.add_typer(replenish_app, name="replenish")
app.add_typer(forecast_app, name="forecast")
app.add_typer(risks_app, name="risks")
app.add_typer(planning_app, name="planning")
app.add_typer(masterdata_app, name="masterdata")
app.add_typer(payables_app, name="payables")
app.add_typer(receivables_app, name="receivables")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(import_app, name="import")
app.command("policy-check")(policy_check)
app.add_typer(model_app, name="model")
app.command()(chat)
app.command()(index)
app.command()(serve)
app.command()(mcp)
app.add_typer(slack_app, name="slack")
app.add_typer(integrations_app, name="integrations")
app.add_typer(tokens_app, name="tokens")


def add_plugin_commands(typer_app: typer.Typer) -> None:
    """Commands that other installed packages add under the entry point group `erp_assistant.commands`
    (`erp-assistant eval` comes from evals, which the product itself must not import)."""
    for entry in entry_points(group=PLUGIN_GROUP):
        typer_app.command(entry.name)(entry.load())


add_plugin_commands(app)


if __name__ == "__main__":
    app()
