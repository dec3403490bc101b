"""Charts drawn with Rich in the terminal (no image files): what a supervisor
looks at beside a report's table."""

from __future__ import annotations

from collections.abc import Sequence

BAR = "█"
AXIS = "│"
HALF_WIDTH = 14
NO_DATA = "no data"
INTERVAL_START, INTERVAL_END, WHISKER = "[", "]", "─"


def diverging_bar(
    value: float | None,
    scale: float,
    half_width: int = HALF_WIDTH,
    interval: tuple[float, float] | None = None,
) -> str:
    """A bar growing left of the axis for a negative value, right of it for a
    positive one, its length proportional to |value| / scale; with an
    `interval`, its ends are drawn on the same scale as `[` and `]`, joined
    by `─` where the bar is not."""
    if value is None:
        cells = [" "] * half_width + [AXIS] + [" "] * half_width
    else:
        length = round(abs(value) / scale * half_width) if scale else 0
        if value and not length:
            length = 1  # a value that is not zero stays visible
        if value < 0:
            cells = [" "] * (half_width - length) + [BAR] * length + [AXIS] + [" "] * half_width
        else:
            cells = [" "] * half_width + [AXIS] + [BAR] * length + [" "] * (half_width - length)
    if interval is not None:
        low, high = (_cell(end, scale, half_width) for end in interval)
        for position in range(low + 1, high):
            if cells[position] == " ":
                cells[position] = WHISKER
        cells[low], cells[high] = INTERVAL_START, INTERVAL_END
    return "".join(cells)


def _cell(value: float, scale: float, half_width: int) -> int:
    """Where a value falls on a diverging bar's cells (the axis is the middle one)."""
    offset = round(value / scale * half_width) if scale else 0
    return half_width + max(-half_width, min(half_width, offset))


def gain_and_impact(
    rows: Sequence[dict],
    label_key: str,
    gain_key: str,
    impact_key: str,
    title: str,
    interval_keys: tuple[str, str] | None = None,
):
    """Two bars a row — the gain, and the impact beyond the control group —
    on one scale, right of the axis when better; with `interval_keys` (the
    low and high end), the impact's confidence interval around its bar."""
    from rich.table import Table
    from rich.text import Text

    def interval(row: dict) -> tuple[float, float] | None:
        if interval_keys is None or row[interval_keys[0]] is None or row[interval_keys[1]] is None:
            return None
        return row[interval_keys[0]], row[interval_keys[1]]

    values = [abs(row[key]) for row in rows for key in (gain_key, impact_key) if row[key] is not None]
    values += [abs(end) for row in rows for end in interval(row) or ()]
    scale = max(values, default=0.0)
    chart = Table(title=title, title_justify="left", box=None, show_header=False, padding=(0, 1))
    chart.add_column(style="bold")
    chart.add_column()
    chart.add_column(no_wrap=True)
    chart.add_column(justify="right")
    for row in rows:
        for kind, key, style in (("gain", gain_key, "cyan"), ("impact", impact_key, "magenta")):
            value = row[key]
            shown = NO_DATA if value is None else (f"{value:+g}" if value else "0")
            around = interval(row) if kind == "impact" else None
            if around is not None:
                shown += f" (95% CI {around[0]:+g} to {around[1]:+g})"
            bar = Text(diverging_bar(value, scale, interval=around), style=style)
            chart.add_row(str(row[label_key] or "") if kind == "gain" else "", kind, bar, shown)
    caption = f"worse ← {AXIS} → better"
    if interval_keys is not None:
        caption += f"   {INTERVAL_START}{WHISKER}{INTERVAL_END} 95% confidence interval of the mean impact"
    chart.caption = Text(caption, style="dim")
    return chart
