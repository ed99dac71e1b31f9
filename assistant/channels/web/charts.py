"""Charts as server-side SVG, each with its numbers as an HTML table: no JavaScript, no build step.

A `Chart` is plain data (categories along x, one or more named series of numbers); `line_chart` and `bar_chart`
draw it, `data_table` writes the same figures as a table for screen readers and for copying. Every SVG has
role="img", an aria-label, a <title> and a <desc>; a chart with no figure at all says "No data" instead.
This module knows nothing of the ERP: the dashboard turns core figures into `Chart`s.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape

Number = Decimal | float | int
# Colour-blind-safe (Okabe-Ito), dark enough on white for lines and bars.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
WIDTH, HEIGHT = 640, 280
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 16, 64
TICKS = 5
NONE = "\u2013"  # an en dash in a cell without a figure


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number | None]


@dataclass(frozen=True)
class Chart:
    """What a chart shows: `id` is its anchor on the page (`#fill-rate`)."""

    id: str
    title: str
    description: str
    categories: Sequence[str]
    series: Sequence[Series]
    unit: str = ""  # shown on the axis and in the table's caption: "%", "USD", "hours"
    category_label: str = "Week"
    kind: str = "line"  # line, bars, stacked
    notes: Sequence[str] = field(default_factory=tuple)
    table_only: Sequence[Series] = field(default_factory=tuple)  # columns of the table the chart does not draw

    @property
    def is_empty(self) -> bool:
        return not self.categories or all(v is None for s in self.series for v in s.values)


@dataclass(frozen=True)
class Frame:
    """The plot area and the value range it maps: value `low` sits on the bottom edge, `high` on the top."""

    left: float
    top: float
    width: float
    height: float
    low: float
    high: float

    def y(self, value: float) -> float:
        return self.top + self.height * (self.high - value) / (self.high - self.low)

    def x(self, index: int, count: int) -> float:
        """The centre of the index-th of `count` categories: points for lines, band centres for bars."""
        return self.left + self.width * (index + 0.5) / count


def nice_range(values: Sequence[float]) -> tuple[float, float, float]:
    """(low, high, step): a range from zero (or below, for negatives) to a round number covering every value."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1
    raw = (high - low) / (TICKS - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def render(chart: Chart, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The chart as its kind says: lines, grouped bars or stacked bars."""
    if chart.kind == "line":
        return line_chart(chart, width=width, height=height)
    return bar_chart(chart, stacked=chart.kind == "stacked", width=width, height=height)


def line_chart(chart: Chart, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """One polyline per series (a gap where a value is missing), a dot per value with its figure as a tooltip."""
    if chart.is_empty:
        return _no_data(chart, width, height)
    values = [float(v) for s in chart.series for v in s.values if v is not None]
    frame = _frame(values, width, height)
    count = len(chart.categories)
    marks = []
    for index, series in enumerate(chart.series):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (frame.x(i, count), frame.y(float(v)), v, chart.categories[i])
            for i, v in enumerate(series.values)
            if v is not None
        ]
        marks.append(
            f'<path class="series" data-series="{escape(series.name)}" d="{_path(series.values, frame, count)}" '
            f'fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        marks.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" data-value="{_plain(v)}">'
            f"<title>{escape(series.name)}, {escape(category)}: {escape(_plain(v))}{escape(_unit(chart))}</title>"
            "</circle>"
            for x, y, v, category in points
        )
    return _svg(chart, width, height, [*_axes(chart, frame), *marks, *_legend(chart, width, height)])


def bar_chart(chart: Chart, *, stacked: bool = False, width: int = WIDTH, height: int = HEIGHT) -> str:
    """Bars per category: side by side per series, or stacked (each category's bar is the sum of its series)."""
    if chart.is_empty:
        return _no_data(chart, width, height)
    count = len(chart.categories)
    if stacked:
        totals = [sum(float(s.values[i] or 0) for s in chart.series) for i in range(count)]
        frame = _frame(totals, width, height)
    else:
        frame = _frame([float(v) for s in chart.series for v in s.values if v is not None], width, height)
    band = frame.width / count
    bar = band * 0.7 if stacked else band * 0.8 / max(1, len(chart.series))
    marks, bases = [], [0.0] * count
    for index, series in enumerate(chart.series):
        colour = PALETTE[index % len(PALETTE)]
        for i, value in enumerate(series.values):
            if value is None:
                continue
            base = bases[i] if stacked else 0.0
            top = base + float(value)
            x = frame.x(i, count) - (bar / 2 if stacked else band * 0.4 - index * bar)
            y1, y2 = frame.y(max(base, top)), frame.y(min(base, top))
            marks.append(
                f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bar:.1f}" height="{y2 - y1:.1f}" fill="{colour}" '
                f'data-series="{escape(series.name)}" data-value="{_plain(value)}">'
                f"<title>{escape(series.name)}, {escape(chart.categories[i])}: {escape(_plain(value))}"
                f"{escape(_unit(chart))}</title></rect>"
            )
            if stacked:
                bases[i] = top
    return _svg(chart, width, height, [*_axes(chart, frame), *marks, *_legend(chart, width, height)])


def data_table(chart: Chart, fmt: Callable[[Number], str] | None = None) -> str:
    """The chart's figures as an HTML table: a row per category, a column per series (a dash where there is none)."""
    show = fmt or _plain
    columns = [*chart.series, *chart.table_only]
    unit = f" ({escape(chart.unit)})" if chart.unit else ""
    head = "".join(f'<th scope="col" class="num">{escape(s.name)}</th>' for s in columns)

    def cell(value: Number | None) -> str:
        return f'<td class="num">{NONE if value is None else escape(show(value))}</td>'

    rows = "".join(
        f'<tr><th scope="row">{escape(category)}</th>{"".join(cell(s.values[i]) for s in columns)}</tr>'
        for i, category in enumerate(chart.categories)
    )
    body = rows or f'<tr><td colspan="{len(columns) + 1}">No data</td></tr>'
    return (
        f'<table class="chart-data" data-chart="{escape(chart.id)}"><caption>{escape(chart.title)}{unit}</caption>'
        f'<thead><tr><th scope="col">{escape(chart.category_label)}</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


# --- Parts ---------------------------------------------------------------------------------------------------


def _frame(values: Sequence[float], width: int, height: int) -> Frame:
    low, high, _ = nice_range(values)
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    return Frame(MARGIN_LEFT, MARGIN_TOP, plot_w, plot_h, low, high)


def _path(values: Sequence[Number | None], frame: Frame, count: int) -> str:
    """`M x y L x y ...`, starting again after each missing value."""
    parts, drawing = [], False
    for i, value in enumerate(values):
        if value is None:
            drawing = False
            continue
        parts.append(f"{'L' if drawing else 'M'}{frame.x(i, count):.1f} {frame.y(float(value)):.1f}")
        drawing = True
    return " ".join(parts)


def _axes(chart: Chart, frame: Frame) -> list[str]:
    _, _, step = nice_range([frame.low, frame.high])
    bottom, right = frame.top + frame.height, frame.left + frame.width
    marks = ['<g class="axes" font-size="11" fill="#5b6470">']
    value = frame.low
    while value <= frame.high + step / 1000:
        y = frame.y(value)
        marks.append(f'<line x1="{frame.left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d9dde3"/>')
        marks.append(f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick(value)}</text>')
        value += step
    every = max(1, math.ceil(len(chart.categories) / 12))  # at most a dozen labels along x
    for i, category in enumerate(chart.categories):
        if i % every == 0:
            x = frame.x(i, len(chart.categories))
            marks.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{escape(_short(category))}</text>')
    if chart.unit:
        marks.append(f'<text x="4" y="{frame.top - 4 if frame.top > 12 else 10}">{escape(chart.unit)}</text>')
    marks.append(f'<line x1="{frame.left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#5b6470"/></g>')
    return marks


def _legend(chart: Chart, width: int, height: int) -> list[str]:
    marks, x, y = ['<g class="legend" font-size="12" fill="#1d2125">'], float(MARGIN_LEFT), height - 18
    for index, series in enumerate(chart.series):
        colour = PALETTE[index % len(PALETTE)]
        marks.append(f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        marks.append(f'<text x="{x + 14:.0f}" y="{y}">{escape(series.name)}</text>')
        x += 24 + 7 * len(series.name)
    marks.append("</g>")
    return marks if len(chart.series) > 1 or chart.kind != "line" else []


def _svg(chart: Chart, width: int, height: int, body: list[str]) -> str:
    label = f"{chart.title}: {chart.description}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart.id)}-svg" role="img" '
        f'aria-label="{escape(label)}" aria-labelledby="{escape(chart.id)}-title {escape(chart.id)}-desc" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{escape(chart.id)}-title">{escape(chart.title)}</title>'
        f'<desc id="{escape(chart.id)}-desc">{escape(chart.description)}</desc>' + "".join(body) + "</svg>"
    )


def _no_data(chart: Chart, width: int, height: int) -> str:
    empty = Chart(chart.id, chart.title, f"{chart.description} No data.", chart.categories, chart.series, chart.unit)
    text = (
        f'<text class="no-data" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" font-size="14" '
        'fill="#5b6470">No data</text>'
    )
    return _svg(empty, width, height, [text])


def _plain(value: Number) -> str:
    """A figure as written in tables and tooltips: thousands separated, decimals as the figure has them."""
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _tick(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _short(category: str) -> str:
    """A date label without its year ("2026-11-23" -> "11-23"); other labels as they are, cut at 14 characters."""
    if len(category) == 10 and category[4] == "-" and category[7] == "-":
        return category[5:]
    return category if len(category) <= 14 else category[:13] + "…"


def _unit(chart: Chart) -> str:
    return "" if not chart.unit else ("%" if chart.unit == "%" else f" {chart.unit}")
