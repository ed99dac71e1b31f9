"""The dashboard as one server-rendered HTML page: a form to choose the view, then each chart with its table.

Every chart sits in a section whose id is its anchor (`/dashboard#fill-rate`), with the SVG, the same figures
as a table, and how they were computed. Nothing here computes a figure: it lays out `dashboard.Dashboard`.
"""

from html import escape
from urllib.parse import urlencode

from assistant.channels.web.charts import Chart, data_table, render
from assistant.channels.web.dashboard import Dashboard, DashboardQuery
from tools.chart_links import ANCHORS

NOT_AVAILABLE = "Not available yet: this panel is filled once the analysis behind it is connected."
NOT_AVAILABLE_FOR = {"forecast": "Not available until you name an item: enter its SKU in the form above."}


def page(
    *,
    display_name: str,
    entities: list[str],
    query: DashboardQuery,
    dashboard: Dashboard | None,
    error: str | None = None,
) -> str:
    """The whole page; with `error` (a refused query) the form and the reason, no charts."""
    scope = ", ".join(entities)
    body = _charts(dashboard) if dashboard is not None else ""
    lede = (
        f"{dashboard.trends.period_start} to {dashboard.trends.period_end} by "
        f"{dashboard.trends.granularity.value}, money in {dashboard.trends.currency}; entities: "
        f"{', '.join(s.entity for s in dashboard.trends.entities) or 'none'}."
        if dashboard is not None
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>Dashboard</title>
  <link rel="stylesheet" href="/static/app.css">
  <link rel="stylesheet" href="/static/dashboard.css">
  <script src="/static/api.js" defer></script>
  <script src="/static/ui.js" defer></script>
  <script src="/static/dashboard.js" defer></script>
</head>
<body>
  <a class="skip-link" href="#main">Skip to content</a>
  <header class="topbar">
    <a class="brand" href="/demo">Northwind ERP</a>
    <nav aria-label="Main">
      <a href="/inbox">Inbox</a>
      <a href="/exceptions">Exceptions</a>
      <a href="/dashboard" aria-current="page">Dashboard</a>
      <a href="/demo">Demo intranet</a>
    </nav>
    <div class="user">
      <span id="user-name">{escape(display_name)} · {escape(scope)}</span>
      <button id="signout" class="btn" type="button">Sign out</button>
    </div>
  </header>
  <main id="main" class="wide" tabindex="-1">
    <div class="page-head">
      <div>
        <h1>Dashboard</h1>
        <p class="lede" id="dashboard-scope">{escape(lede)}</p>
      </div>
    </div>
    <p id="page-error" class="page-error" role="alert"{"" if error else " hidden"}>{escape(error or "")}</p>
    {_form(query, entities)}
    {_contents(dashboard)}
    {body}
  </main>
</body>
</html>
"""


def _form(query: DashboardQuery, entities: list[str]) -> str:
    def option(value: str, label: str, chosen: str | None) -> str:
        selected = " selected" if (chosen or "") == value else ""
        return f'<option value="{escape(value)}"{selected}>{escape(label)}</option>'

    entity_options = option("", "All my entities", query.entity) + "".join(
        option(code, code, (query.entity or "").upper()) for code in entities
    )
    grains = option("week", "Weeks", query.granularity) + option("month", "Months", query.granularity)
    return f"""<form id="dashboard-filters" class="filters" method="get" action="/dashboard"
      aria-label="Choose the view">
      <div class="field"><label for="f-entity">Entity</label>
        <select id="f-entity" name="entity">{entity_options}</select></div>
      <div class="field"><label for="f-grain">By</label><select id="f-grain" name="grain">{grains}</select></div>
      <div class="field"><label for="f-since">From</label>
        <input id="f-since" name="since" type="date" value="{escape(str(query.since or ""))}"></div>
      <div class="field"><label for="f-until">To</label>
        <input id="f-until" name="until" type="date" value="{escape(str(query.until or ""))}"></div>
      <div class="field"><label for="f-currency">Currency</label>
        <input id="f-currency" name="currency" size="4" maxlength="3" value="{escape(query.currency or "")}"
          placeholder="USD"></div>
      <div class="field"><label for="f-sku">Forecast item</label>
        <input id="f-sku" name="sku" size="10" maxlength="40" value="{escape(query.sku or "")}"></div>
      <button class="btn" type="submit">Show</button>
    </form>"""


def _contents(dashboard: Dashboard | None) -> str:
    if dashboard is None:
        return ""
    links = "".join(f'<li><a href="#{escape(c.id)}">{escape(ANCHORS[c.id].title)}</a></li>' for c in dashboard.charts)
    return f'<nav class="chart-index" aria-label="Charts"><ul>{links}</ul></nav>'


def _charts(dashboard: Dashboard) -> str:
    return '<div class="chart-grid">' + "".join(_section(dashboard, chart) for chart in dashboard.charts) + "</div>"


def _section(dashboard: Dashboard, chart: Chart) -> str:
    available = dashboard.available.get(chart.id, True)
    heading = f'<h2 id="{escape(chart.id)}-heading"><a href="#{escape(chart.id)}">{escape(chart.title)}</a></h2>'
    if not available:
        why = NOT_AVAILABLE_FOR.get(chart.id, NOT_AVAILABLE)
        figure = f'<p class="not-available" data-state="not-available">{escape(why)}</p>'
    else:
        notes = "".join(f'<p class="basis muted small">{escape(n)}</p>' for n in chart.notes if n)
        figure = f'{render(chart)}<div class="table-wrap">{data_table(chart)}</div>{notes}'
    return (
        f'<section class="chart-card" id="{escape(chart.id)}" aria-labelledby="{escape(chart.id)}-heading" '
        f'data-available="{str(available).lower()}">{heading}<p class="muted small">{escape(chart.description)}</p>'
        f"{figure}</section>"
    )


def sign_in_path(path: str, params: dict[str, str]) -> str:
    """Where to send someone not signed in: the sign-in page, coming back here after."""
    here = path + (f"?{urlencode(params)}" if params else "")
    return "/signin?" + urlencode({"next": here})
