"""The night's timeline as a static SVG drawing, made with matplotlib, to be inlined in HTML.

Matplotlib is imported here, inside the function, and draws on an Agg canvas made for this one
figure: importing `rollover` never loads it, and no process-wide backend is chosen.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from ._night import CopySpan

if TYPE_CHECKING:
    from matplotlib.patches import Patch

REQUESTED = "#2f6db5"
FINISHED = "#2e8b57"
RUNNING = "#d9822b"
WINDOW = "#e3eefb"
WINDOW_EDGE = "#9db7dc"
PAUSED = "#9a9a9a"

_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


@dataclass(frozen=True)
class Timeline:
    """What the chart shows: the span it covers, the copies in it, the window and the pauses."""

    start: datetime
    end: datetime
    spans: Sequence[CopySpan]
    window: Sequence[tuple[datetime, datetime]]
    pauses: Sequence[tuple[datetime, datetime]]  # numbered P1, P2... in the chart, in order


def _cumulative(
    moments: Sequence[datetime], start: datetime, end: datetime
) -> tuple[list[datetime], list[int]]:
    inside = sorted(at for at in moments if start <= at <= end)
    xs = [start, *inside, end]
    ys = [0, *range(1, len(inside) + 1), len(inside)]
    return xs, ys


def _running(
    spans: Sequence[CopySpan], start: datetime, end: datetime
) -> tuple[list[datetime], list[int]]:
    changes: list[tuple[datetime, int]] = []
    count = 0
    for span in spans:
        ended = span.ended or end
        if span.requested <= start < ended:
            count += 1
        if start < span.requested <= end:
            changes.append((span.requested, 1))
        if start < ended <= end and span.ended is not None:
            changes.append((ended, -1))
    xs, ys = [start], [count]
    for at, step in sorted(changes, key=lambda change: (change[0], change[1])):
        count += step
        xs.append(at)
        ys.append(count)
    xs.append(end)
    ys.append(count)
    return xs, ys


def timeline_svg(timeline: Timeline, zone: tzinfo) -> str:
    """The timeline as an `<svg>` element (no XML prolog), times on `zone`'s clock."""
    from matplotlib import dates as mdates
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    start, end = timeline.start, timeline.end
    if end <= start:
        end = start + timedelta(minutes=1)
    spans = timeline.spans

    def days(moments: Sequence[datetime]) -> list[float]:
        return [float(mdates.date2num(at)) for at in moments]  # type: ignore[no-untyped-call]

    def drawn(series: tuple[list[datetime], list[int]]) -> tuple[list[float], list[int]]:
        return days(series[0]), series[1]

    requested = drawn(_cumulative([span.requested for span in spans], start, end))
    finished = drawn(
        _cumulative(
            [span.ended for span in spans if span.ended is not None and span.outcome == "copied"],
            start,
            end,
        )
    )
    running = drawn(_running(spans, start, end))
    window = [days(span) for span in timeline.window]
    pauses = [days(span) for span in timeline.pauses]

    with rc_context(
        {
            "svg.fonttype": "path",  # text as outlines: no font needed where it is opened
            "svg.hashsalt": "rollover",  # the same night draws the same file
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        figure = Figure(figsize=(10, 4.2), dpi=96, layout="constrained")
        FigureCanvasAgg(figure)
        totals, in_learn = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
        for axes in (totals, in_learn):
            axes.xaxis_date(tz=zone)
            for opens, closes in window:
                axes.axvspan(opens, closes, color=WINDOW, zorder=0, linewidth=0)
            for paused_from, paused_to in pauses:
                axes.axvspan(
                    paused_from,
                    paused_to,
                    facecolor="none",
                    edgecolor=PAUSED,
                    hatch="///",
                    linewidth=0,
                    zorder=1,
                )
        totals.step(*requested, where="post", color=REQUESTED, label="copies requested")
        totals.step(*finished, where="post", color=FINISHED, label="copies finished")
        totals.set_ylabel("copies (cumulative)")
        totals.set_ylim(bottom=0)
        for number, (paused_from, _) in enumerate(pauses, start=1):
            totals.annotate(
                f"P{number}",
                xy=(paused_from, 1),
                xycoords=("data", "axes fraction"),
                xytext=(2, -10),
                textcoords="offset points",
                color="#555555",
            )
        in_learn.step(*running, where="post", color=RUNNING, label="copies running in Learn")
        in_learn.fill_between(*running, step="post", color=RUNNING, alpha=0.25, linewidth=0)
        in_learn.set_ylabel("running")
        in_learn.set_ylim(bottom=0)
        in_learn.yaxis.get_major_locator().set_params(integer=True)
        locator = mdates.AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
        in_learn.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator, tz=zone)  # type: ignore[no-untyped-call]
        in_learn.xaxis.set_major_formatter(formatter)
        in_learn.set_xlim(*days([start, end]))
        handles = [*totals.get_legend_handles_labels()[0], in_learn.get_lines()[0]]
        if window:
            handles.append(_patch(WINDOW, "copy window", edge=WINDOW_EDGE))
        if pauses:
            handles.append(_patch("none", "paused", hatch="///", edge=PAUSED))
        figure.legend(
            handles=handles, loc="outside lower center", ncols=len(handles), frameon=False
        )
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _inline(buffer.getvalue())


def _patch(color: str, label: str, *, hatch: str | None = None, edge: str | None = None) -> Patch:
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor=edge or color, hatch=hatch, label=label)


def _inline(svg: str) -> str:
    """The `<svg>` element alone, ready to sit inside HTML: no prolog, no RDF metadata."""
    element = svg[svg.index("<svg") :]
    element = _METADATA.sub("", element)
    return element.replace(
        "<svg ",
        '<svg role="img" aria-label="Timeline: copies requested, finished and running" ',
        1,
    )
