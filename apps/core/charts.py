"""Server-rendered SVG charts for the admin dashboard: no JavaScript, no CDN, no build step.

The markup is built from numbers only; labels are escaped. Each chart carries `data-*` attributes
with its values so tests (and a curious admin's browser tools) can read what was drawn.
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
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#6b7280">'
            f"{escape(fmt(value))}</text>"
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
) -> str:
    left, bottom = 56, 26
    values = [float(v) for _, v in points]
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = width - left - 8, height - bottom - 10
    step = plot_w / max(len(points) - 1, 1)
    coords = [(left + i * step, 10 + plot_h * (1 - v / top)) for i, v in enumerate(values)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))
    area = f"{path} L{coords[-1][0]:.1f},{10 + plot_h} L{left},{10 + plot_h} Z" if coords else ""
    labels = []
    every = max(1, len(points) // 6)
    for i, (label, _) in enumerate(points):
        if i % every == 0 or i == len(points) - 1:
            x = left + i * step
            anchor = "end" if i == len(points) - 1 and len(points) > 1 else "middle"  # never clipped
            labels.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}" font-size="11" fill="#6b7280">'
                f"{escape(label)}</text>"
            )
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"><title>{escape(label)}: '
        f"{escape(fmt(v))}</title></circle>"
        for (x, y), (label, v) in zip(coords, points, strict=True)
    )
    body = (
        _axes(width, height, top, left, bottom, fmt)
        + (f'<path d="{area}" fill="{color}" fill-opacity="0.08"/>' if area else "")
        + (f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>' if path else "")
        + dots
        + "".join(labels)
    )
    return _frame(width, height, title, "line", values, body)


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
            f'<text x="{label_w - 8}" y="{y + row_h * 0.62:.1f}" text-anchor="end" font-size="12" '
            f'fill="#374151">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + row_h * 0.15:.1f}" width="{max(w, 1):.1f}" '
            f'height="{row_h * 0.7:.1f}" '
            f'rx="3" fill="{color}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row_h * 0.62:.1f}" font-size="12" fill="#111827">'
            f"{escape(fmt(value))}</text>"
        )
    return _frame(width, height, title, "bar", values, "".join(bars))
