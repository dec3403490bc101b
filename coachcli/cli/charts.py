"""Charts drawn with Rich in the terminal (no image files): what a supervisor
looks at beside a report's table."""

from __future__ import annotations

from collections.abc import Sequence

BAR = "█"
AXIS = "│"
HALF_WIDTH = 14
NO_DATA = "no data"


def diverging_bar(value: float | None, scale: float, half_width: int = HALF_WIDTH) -> str:
    """A bar growing left of the axis for a negative value, right of it for a
    positive one, its length proportional to |value| / scale."""
    if value is None:
        return " " * half_width + AXIS + " " * half_width
    length = round(abs(value) / scale * half_width) if scale else 0
    if value and not length:
        length = 1  # a value that is not zero stays visible
    if value < 0:
        return " " * (half_width - length) + BAR * length + AXIS + " " * half_width
    return " " * half_width + AXIS + BAR * length + " " * (half_width - length)


def gain_and_impact(rows: Sequence[dict], label_key: str, gain_key: str, impact_key: str, title: str):
    """Two bars a row — the gain, and the impact beyond the control group —
    on one scale, right of the axis when better."""
    from rich.table import Table
    from rich.text import Text

    values = [abs(row[key]) for row in rows for key in (gain_key, impact_key) if row[key] is not None]
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
            bar = Text(diverging_bar(value, scale), style=style)
            chart.add_row(str(row[label_key] or "") if kind == "gain" else "", kind, bar, shown)
    chart.caption = Text(f"worse ← {AXIS} → better", style="dim")
    return chart
