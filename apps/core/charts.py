"""Server-rendered SVG charts for the admin dashboard: no JavaScript, no CDN, no build step.

The markup is built from numbers only; labels are escaped. Each chart carries `data-*` attributes
with its values so tests (and a curious admin's browser tools) can read what was drawn.

Text and gridlines carry classes (`chart-ink`, `chart-muted`, `chart-grid`) besides their light-theme
colours: the console's stylesheet maps the classes to the admin's theme variables, so labels stay
legible on the dark background of the admin's dark mode (a fixed dark grey vanished there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

Point = tuple[str, int | float]

_PALETTE = ["#0f766e", "#2563eb", "#d97706", "#dc2626", "#7c3aed"]


def _nice_max(value: float) -> float:
    """The top of a four-interval axis: 4 × the smallest whole "nice" step (1, 2, 2.5, 5 × 10^n)
    that reaches `value`, so every gridline lands on a round number (an empty chart reads 0..4)."""
    target = max(float(value), 0.0) / 4
    magnitude = 1
    while True:
        for multiple in (1, 2, 2.5, 5):
            step = multiple * magnitude
            if step == int(step) and step >= target:
                return 4 * step
        magnitude *= 10


def _frame(width: int, height: int, title: str, kind: str, values: Sequence[float], body: str) -> str:
    data = ",".join(str(v) for v in values)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" data-values="{data}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _axes(width: int, height: int, top: float, left: int, bottom: int, fmt: Callable[[float], str]) -> str:
    parts = []
    plot_h = height - bottom - 10
    for i in range(5):
        y = 10 + plot_h * i / 4
        value = top * (4 - i) / 4
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<text class="chart-muted" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#6b7280">{escape(fmt(value))}</text>'
        )
    return "".join(parts)


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    color: str = _PALETTE[0],
    partial_note: str = "",
) -> str:
    """A daily series. With `partial_note` the last point is a day still running (today): its segment
    is dashed, its dot hollow and its label says so, so a low "today" is not read as a drop."""
    left, bottom = 56, 26
    values = [float(v) for _, v in points]
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = width - left - 8, height - bottom - 10
    step = plot_w / max(len(points) - 1, 1)
    coords = [(left + i * step, 10 + plot_h * (1 - v / top)) for i, v in enumerate(values)]
    partial = bool(partial_note) and len(coords) > 1
    solid = coords[:-1] if partial else coords
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(solid))
    area = f"{path} L{solid[-1][0]:.1f},{10 + plot_h} L{left},{10 + plot_h} Z" if solid else ""
    labels = []
    every = max(1, len(points) // 6)
    for i, (label, _) in enumerate(points):
        last = i == len(points) - 1
        if i % every == 0 or last:
            x = left + i * step
            anchor = "end" if last and len(points) > 1 else "middle"  # never clipped
            text = f"{label}（{partial_note}）" if last and partial else label
            # The previous label would collide with the longer "today" label: leave it out.
            if partial and not last and x > left + (len(points) - 1) * step - 150:
                continue
            labels.append(
                f'<text class="chart-muted" x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}" '
                f'font-size="11" fill="#6b7280">{escape(text)}</text>'
            )
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3.5 if partial and i == len(coords) - 1 else 2.5}" '
        + (
            f'class="chart-partial" fill="none" stroke="{color}" stroke-width="1.5"'
            if partial and i == len(coords) - 1
            else f'fill="{color}"'
        )
        + f"><title>{escape(label)}: {escape(fmt(v))}</title></circle>"
        for i, ((x, y), (label, v)) in enumerate(zip(coords, points, strict=True))
    )
    tail = ""
    if partial:
        (x1, y1), (x2, y2) = coords[-2], coords[-1]
        tail = (
            f'<path class="chart-partial" d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}" fill="none" '
            f'stroke="{color}" stroke-width="2" stroke-dasharray="4 3"/>'
        )
    body = (
        _axes(width, height, top, left, bottom, fmt)
        + (f'<path d="{area}" fill="{color}" fill-opacity="0.08"/>' if area else "")
        + (f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>' if path else "")
        + tail
        + dots
        + "".join(labels)
    )
    svg = _frame(width, height, title, "line", values, body)
    if partial:
        svg = svg.replace("<svg ", f'<svg data-partial="{escape(partial_note)}" ', 1)
    return svg


def bar_chart(
    points: Sequence[Point],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    color: str = _PALETTE[1],
) -> str:
    """Horizontal bars, one per label (top KOCs, top products): long Chinese names stay readable."""
    label_w, right = 150, 110  # room for the longest value label, e.g. "¥124,834.00"
    values = [float(v) for _, v in points]
    top = max(values, default=0) or 1
    row_h = (height - 10) / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        y = 5 + i * row_h
        w = (width - label_w - right) * float(value) / top
        short = label if len(label) <= 12 else label[:11] + "…"
        bars.append(
            f'<text class="chart-ink" x="{label_w - 8}" y="{y + row_h * 0.62:.1f}" text-anchor="end" '
            f'font-size="12" fill="#374151">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + row_h * 0.15:.1f}" width="{max(w, 1):.1f}" '
            f'height="{row_h * 0.7:.1f}" '
            f'rx="3" fill="{color}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
            f'<text class="chart-ink chart-value" x="{label_w + w + 6:.1f}" y="{y + row_h * 0.62:.1f}" '
            f'font-size="12" fill="#111827">{escape(fmt(value))}</text>'
        )
    return _frame(width, height, title, "bar", values, "".join(bars))
