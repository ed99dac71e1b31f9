"""The backtest's chart: fill rate against average inventory value, as hand-written SVG, and its PNG via Chromium."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from evals.common.chromium import CHROMIUM, CHROMIUM_FLAGS

WIDTH, HEIGHT = 880, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 310, 40, 60
MARKERS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b")
LINES = ("#999999", "#2ca02c", "#1f77b4", "#17becf")


@dataclass(frozen=True)
class Point:
    label: str
    inventory: float
    fill_rate: float


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values from at or below `low` to at or above `high`, about `count` steps apart."""
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return ticks


def _money(value: float) -> str:
    return f"{value / 1e6:.1f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"


def fill_rate_chart(curves: Mapping[str, Sequence[Point]], others: Sequence[Point]) -> str:
    """Each curve (a policy over service levels, its points labelled) and the other policies as single points."""
    points = [*(p for curve in curves.values() for p in curve), *others]
    xs = nice_ticks(min(p.inventory for p in points) * 0.95, max(p.inventory for p in points) * 1.05)
    ys = nice_ticks(min(p.fill_rate for p in points) - 0.01, min(1.0, max(p.fill_rate for p in points) + 0.01))
    x0, x1, y0, y1 = xs[0], xs[-1], ys[0], ys[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(v: float) -> float:
        return LEFT + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return TOP + plot_h - (v - y0) / (y1 - y0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">Fill rate against average inventory value</text>',
    ]
    for v in xs:
        out.append(f'<line x1="{sx(v):.1f}" y1="{TOP}" x2="{sx(v):.1f}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{sx(v):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{_money(v)}</text>')
    for v in ys:
        out.append(f'<line x1="{LEFT}" y1="{sy(v):.1f}" x2="{LEFT + plot_w}" y2="{sy(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 8}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.0%}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>')
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
        "average inventory value (standard cost)</text>"
    )
    out.append(
        f'<text x="18" y="{TOP + plot_h / 2}" text-anchor="middle" transform="rotate(-90 18 {TOP + plot_h / 2})">'
        "fill rate (units from the shelf on the day ordered)</text>"
    )
    legend_x, legend_y = LEFT + plot_w + 16, TOP + 10
    top = max(curves, key=lambda name: sum(p.fill_rate for p in curves[name]) / len(curves[name]), default="")
    for n, (name, curve) in enumerate(curves.items()):
        colour, ly = LINES[n % len(LINES)], legend_y + 22 * n
        dy = -8 if name == top else 14  # the highest curve is labelled above its points, the others below
        path = " ".join(f"{sx(p.inventory):.1f},{sy(p.fill_rate):.1f}" for p in curve)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in curve:
            cx, cy = sx(p.inventory), sy(p.fill_rate)
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}"/>')
            label = escape(p.label)
            out.append(f'<text x="{cx + 5:.1f}" y="{cy + dy:.1f}" font-size="10" fill="{colour}">{label}</text>')
        out.append(
            f'<line x1="{legend_x}" y1="{ly}" x2="{legend_x + 18}" y2="{ly}" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(f'<text x="{legend_x + 24}" y="{ly + 4}" font-size="11">{escape(name)}</text>')
    legend_y += 22 * (len(curves) - 1)
    for i, p in enumerate(others):
        colour = MARKERS[i % len(MARKERS)]
        cx, cy = sx(p.inventory), sy(p.fill_rate)
        out.append(f'<rect x="{cx - 5:.1f}" y="{cy - 5:.1f}" width="10" height="10" fill="{colour}"/>')
        ly = legend_y + 22 * (i + 1)
        out.append(f'<rect x="{legend_x + 4}" y="{ly - 5}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 24}" y="{ly + 4}" font-size="11">{escape(p.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def svg_to_png(svg: str, target: Path) -> None:
    """Render the SVG in headless Chromium and save a screenshot of it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.set_content(f"<html><body style='margin:0'>{svg}</body></html>")
            page.locator("svg").screenshot(path=str(target))
        finally:
            browser.close()
