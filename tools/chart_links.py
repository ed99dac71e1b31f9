"""Which dashboard chart answers a question: a topic's words mapped to the chart's link (`/dashboard#fill-rate`).

The dashboard's charts take their anchors from `CHARTS`, so a link the assistant gives always lands on one.
It imports nothing, so a tool's result (e.g. the KPI tool's) and the assistant can both use it.
"""

import re
from dataclasses import dataclass

DASHBOARD_PATH = "/dashboard"


@dataclass(frozen=True)
class ChartLink:
    anchor: str
    title: str
    words: tuple[str, ...]  # lower-case words or phrases that point to this chart

    @property
    def url(self) -> str:
        return f"{DASHBOARD_PATH}#{self.anchor}"


# Most specific first: the first chart whose words appear in the topic wins.
CHARTS: tuple[ChartLink, ...] = (
    ChartLink("forecast", "Forecast against actual", ("forecast", "demand plan", "predicted demand")),
    ChartLink(
        "supplier-scorecards",
        "Supplier scorecards",
        ("supplier", "vendor", "lead time", "lead-time", "on-time delivery", "price variance"),
    ),
    ChartLink("approval-cycle", "Approval cycle time", ("approval", "approve", "cycle time", "sign-off", "sign off")),
    ChartLink(
        "findings", "Findings by type and age", ("finding", "findings by type", "alerts", "what needs attention")
    ),
    ChartLink("exception-ageing", "Exception ageing", ("exception", "case", "ageing", "aging", "sla")),
    ChartLink("fill-rate", "Fill rate", ("fill rate", "service level", "shipped complete", "filled", "on time")),
    ChartLink("backlog", "Backlog", ("backlog", "open orders", "order book", "unshipped")),
    ChartLink("inventory-turns", "Inventory turns", ("turns", "turnover", "inventory", "stock value")),
    ChartLink("margin", "Margin", ("margin", "profit", "gross", "revenue")),
)
ANCHORS = {chart.anchor: chart for chart in CHARTS}


def chart_for(topic: str) -> ChartLink | None:
    """The chart that answers a question about `topic`, or None when no chart does."""
    text = " " + re.sub(r"[^a-z0-9%-]+", " ", topic.lower()) + " "
    for chart in CHARTS:
        if any(_mentions(text, word) for word in chart.words):
            return chart
    return None


def _mentions(text: str, word: str) -> bool:
    """The word at the start of a word in the text ("cases" mentions "case", "showcase" does not)."""
    return re.search(rf"(?<![a-z0-9]){re.escape(word)}", text) is not None


# The charts that show what a KPI view of the reports tool reports (intercompany balances have none).
VIEW_CHARTS = {
    "kpis": ("fill-rate", "backlog", "inventory-turns", "margin"),
    "group": ("backlog", "margin", "inventory-turns"),
    "margin": ("margin",),
    "intercompany": (),
}


def view_charts(view: str) -> list[str]:
    """The links of the charts that draw a reports view's figures over time."""
    return [ANCHORS[anchor].url for anchor in VIEW_CHARTS.get(view, ())]


def case_charts(case_type: str, evidence: dict[str, object]) -> list[str]:
    """The chart that shows a finding's history: a supplier's scorecard, or the item's forecast against actual."""
    if case_type == "supplier_risk":
        return [ANCHORS["supplier-scorecards"].url]
    sku = evidence.get("sku")
    if case_type == "demand_anomaly" and isinstance(sku, str) and re.fullmatch(r"[A-Za-z0-9._-]+", sku):
        return [f"{DASHBOARD_PATH}?sku={sku}#forecast"]
    return []


def title_of(url: str) -> str:
    """The title of the chart a dashboard link lands on ("Fill rate"), or the link itself."""
    chart = ANCHORS.get(url.rsplit("#", 1)[-1])
    return chart.title if chart else url
