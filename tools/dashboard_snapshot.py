"""Render a Grafana dashboard's panels from a live Prometheus into one PNG.

The README shows what an operator sees without a Grafana: every panel of the dashboard JSON is
queried from Prometheus over a time range, with Grafana's variables substituted the way Grafana
would ($job, $__rate_interval, $__range), and drawn with matplotlib where the dashboard places it.

    python tools/dashboard_snapshot.py --prometheus http://127.0.0.1:9090 --range 30m \\
        --output docs/images/dashboard.png

`make dashboard-snapshot` runs it against PROMETHEUS_URL, or, without one, against the
Prometheus of the monitoring live test (service + fake Anthropic API + real Prometheus).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DASHBOARD = (REPO_ROOT / "charts/sre-ai-platform/files/dashboards/"
                     "sre-ai-platform-overview.json")

# Grafana's dark theme, roughly.
BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
           "#705da0", "#37872d", "#fade2a", "#c4162a", "#1f60c4"]
COLORS = {"green": "#73bf69", "red": "#f2495c", "orange": "#ff9830", "yellow": "#fade2a"}

Series = tuple[dict[str, str], list[float], list[float]]  # labels, timestamps, values


# ------------------------------------------------------------------ Prometheus


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body.get('error')}")
        return body["data"]

    def range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        return [(s["metric"], [float(t) for t, _ in s["values"]],
                 [float(v) for _, v in s["values"]]) for s in data["result"]]

    def instant(self, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        data = self._get("/api/v1/query", query=expr, time=at)
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def now(self) -> float:
        """The server's own time: "now" for the range is the clock the samples were stamped
        with, never this machine's (they differ when Prometheus runs elsewhere)."""
        data = self._get("/api/v1/query", query="time()")
        return float(data["result"][1])

    def jobs(self) -> list[str]:
        values: list[str] = self._get("/api/v1/label/job/values", **{"match[]": "ai_service_info"})
        return values


# ------------------------------------------------------------------ Grafana's conventions


def substitute(expr: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), expr)


def legend(fmt: str, labels: dict[str, str], expr: str) -> str:
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or expr.split("(")[0]


def format_value(value: float, unit: str, decimals: int | None = None) -> str:
    if math.isnan(value):
        return "NaN"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "currencyUSD":
        digits = decimals if decimals is not None else (2 if abs(value) >= 1 else 4)
        return f"${value:,.{digits}f}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    suffix = {"reqps": " req/s", "ops": " ops/s", "cps": "/s", "cpm": "/min"}.get(unit, "")
    for div, letter in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.1f}{letter}{suffix}"
    return f"{value:.{2 if decimals is None else decimals}f}".rstrip("0").rstrip(".") + suffix


def threshold_color(value: float, defaults: dict[str, Any]) -> str:
    color = TEXT
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step["value"] is None or value >= step["value"]:
            color = COLORS.get(step["color"], step["color"])
    return color


# ------------------------------------------------------------------ panels


def style(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=TEXT, labelsize=7)


def draw_timeseries(ax: Axes, panel: dict[str, Any], series: list[tuple[str, Series]]) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    unit = defaults.get("unit", "short")
    custom = defaults.get("custom", {})
    stacked = custom.get("stacking", {}).get("mode") == "normal"
    bars = custom.get("drawStyle") == "bars"
    bottom: dict[float, float] = {}
    for i, (name, (_labels, ts, vs)) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        xs = mdates.date2num([datetime.fromtimestamp(t, UTC) for t in ts])
        if stacked or bars:
            base = [bottom.get(t, 0.0) for t in ts]
            clean = [0.0 if math.isnan(v) else v for v in vs]
            top = [b + v for b, v in zip(base, clean, strict=True)]
            ax.fill_between(xs, base, top, color=color, alpha=0.35, linewidth=0, step="mid")
            ax.plot(xs, top, color=color, linewidth=1, label=name)
            bottom.update(zip(ts, top, strict=True))
        else:
            ax.plot(xs, vs, color=color, linewidth=1.2, label=name)
    if "min" in defaults:
        ax.set_ylim(bottom=defaults["min"])
    if "max" in defaults:
        ax.set_ylim(top=defaults["max"] * 1.02)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_value(v, unit)))
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    ax.grid(color=GRID, linewidth=0.5)
    if series:
        ax.legend(loc="upper left", fontsize=6, frameon=False, labelcolor=TEXT,
                  ncol=2 if len(series) > 4 else 1)
    else:
        no_data(ax)


def draw_stat(ax: Axes, panel: dict[str, Any], values: list[float]) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    ax.set_xticks([])
    ax.set_yticks([])
    if not values:
        no_data(ax)
        return
    value = values[-1]
    ax.text(0.5, 0.45, format_value(value, defaults.get("unit", "short"),
                                    defaults.get("decimals")),
            ha="center", va="center", fontsize=20, fontweight="bold",
            color=threshold_color(value, defaults), transform=ax.transAxes)


def draw_state_timeline(ax: Axes, panel: dict[str, Any], series: list[tuple[str, Series]]) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    mapping = defaults.get("mappings", [{}])[0].get("options", {})
    for row, (name, (_labels, ts, vs)) in enumerate(series):
        for t0, t1, v in zip(ts, [*ts[1:], ts[-1]], vs, strict=True):
            if math.isnan(v):
                continue
            m = mapping.get(str(int(v)), {})
            ax.barh(row, max(t1 - t0, 1) / 86400,
                    left=mdates.date2num(datetime.fromtimestamp(t0, UTC)),
                    color=COLORS.get(m.get("color", ""), PALETTE[0]), height=0.8)
        ax.text(0.005, row, name, va="center", fontsize=7, color=BACKGROUND,
                transform=ax.get_yaxis_transform())
    ax.set_yticks([])
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    handles = [Rectangle((0, 0), 1, 1, color=COLORS.get(m["color"], m["color"]))
               for m in mapping.values()]
    ax.legend(handles, [m["text"] for m in mapping.values()], loc="upper right", fontsize=6,
              frameon=False, labelcolor=TEXT, ncol=3)
    if not series:
        no_data(ax)


def draw_table(ax: Axes, rows: list[dict[str, str]]) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if not rows:
        no_data(ax)
        return
    columns = sorted({k for r in rows for k in r if k != "__name__"})
    table = ax.table(cellText=[[r.get(c, "") for c in columns] for r in rows],
                     colLabels=columns, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    for cell in table.get_celld().values():
        cell.set_facecolor(PANEL)
        cell.set_edgecolor(GRID)
        cell.get_text().set_color(TEXT)


def no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "No data", ha="center", va="center", color=TEXT, transform=ax.transAxes)


# ------------------------------------------------------------------ the page


def render(board: dict[str, Any], prom: Prometheus, start: float, end: float,
           variables: dict[str, str], output: Path) -> list[str]:
    """Draw every panel; returns the titles of panels that had no data."""
    step = max(1.0, (end - start) / 240)
    panels = board["panels"]
    height_units = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_in = 0.42
    fig = plt.figure(figsize=(24 * 0.8, height_units * unit_in + 1.0), facecolor=BACKGROUND)
    top_in = 1.0
    fig_h = height_units * unit_in + top_in
    fig.text(0.01, 1 - 0.35 / fig_h, board["title"], color=TEXT, fontsize=16, fontweight="bold",
             va="top")
    span = (f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M:%S} to "
            f"{datetime.fromtimestamp(end, UTC):%H:%M:%S} UTC, job={variables.get('job')}")
    fig.text(0.99, 1 - 0.4 / fig_h, span, color=TEXT, fontsize=9, ha="right", va="top")
    empty: list[str] = []
    for panel in panels:
        g = panel["gridPos"]
        left, width = g["x"] / 24, g["w"] / 24
        bottom = 1 - (top_in + (g["y"] + g["h"]) * unit_in) / fig_h
        height = g["h"] * unit_in / fig_h
        if panel["type"] == "row":
            fig.text(left + 0.005, bottom + height / 2, panel["title"], color=TEXT, fontsize=12,
                     fontweight="bold", va="center")
            continue
        pad_x, pad_y = 0.004, 0.32 / fig_h
        # Graphs keep room on their left for the value axis' labels.
        axis = 0.035 if panel["type"] == "timeseries" else 0.0
        ax = fig.add_axes((left + pad_x + axis, bottom + pad_y * 0.6, width - 2 * pad_x - axis,
                           height - pad_y * 1.6))
        style(ax)
        fig.text(left + pad_x, bottom + height - pad_y * 0.55, panel["title"], color=TEXT,
                 fontsize=10, va="center")
        if not fill(ax, panel, prom, start, end, step, variables):
            empty.append(panel["title"])
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=90, facecolor=BACKGROUND)
    plt.close(fig)
    return empty


def fill(ax: Axes, panel: dict[str, Any], prom: Prometheus, start: float, end: float,
         step: float, variables: dict[str, str]) -> bool:
    """Query and draw one panel; False when it had no data."""
    kind = panel["type"]
    if kind == "table":
        rows = []
        for t in panel["targets"]:
            rows += [labels for labels, _ in prom.instant(substitute(t["expr"], variables), end)]
        draw_table(ax, rows)
        return bool(rows)
    series: list[tuple[str, Series]] = []
    for t in panel["targets"]:
        expr = substitute(t["expr"], variables)
        for s in prom.range(expr, start, end, step):
            series.append((legend(t.get("legendFormat", ""), s[0], expr), s))
    if kind == "stat":
        values = [v for _name, (_l, _t, vs) in series for v in vs if not math.isnan(v)]
        draw_stat(ax, panel, values)
        return bool(values)
    if kind == "state-timeline":
        draw_state_timeline(ax, panel, series)
    else:
        draw_timeseries(ax, panel, series)
    return any(not math.isnan(v) for _n, (_l, _t, vs) in series for v in vs)


def parse_range(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(text[:-1]) * units[text[-1]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL of a live Prometheus")
    parser.add_argument("--dashboard", type=Path, default=DEFAULT_DASHBOARD)
    parser.add_argument("--range", default="30m", help="how far back from now (30m, 3h, ...)")
    parser.add_argument("--start", type=float, help="start, UNIX seconds (overrides --range)")
    parser.add_argument("--end", type=float,
                        help="end, UNIX seconds (default: now, by the Prometheus server's clock)")
    parser.add_argument("--job", help="the $job variable (default: the first job exporting "
                        "ai_service_info)")
    parser.add_argument("--rate-interval", default="1m",
                        help="$__rate_interval (Grafana: at least 4x the scrape interval)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs/images/dashboard.png")
    parser.add_argument("--require-data", action="store_true",
                        help="exit 1 when any panel has no data")
    args = parser.parse_args(argv)

    prom = Prometheus(args.prometheus)
    end = args.end or prom.now()
    start = args.start or end - parse_range(args.range)
    job = args.job or next(iter(prom.jobs()), None)
    if job is None:
        print("no job exports ai_service_info in this Prometheus: is the service scraped?",
              file=sys.stderr)
        return 1
    # $__range is the whole time range, as Grafana sends it (a stat's total over the range).
    variables = {"job": job, "__rate_interval": args.rate_interval, "datasource": "prometheus",
                 "__range": f"{max(1, round(end - start))}s"}
    board = json.loads(args.dashboard.read_text())
    empty = render(board, prom, start, end, variables, args.output)
    print(f"wrote {args.output} ({len(board['panels'])} panels, job={job})")
    if empty:
        print("panels without data: " + ", ".join(empty), file=sys.stderr)
        return 1 if args.require_data else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
