"""Writes examples/kpi-report.xlsx, the Excel workbook the README imports:
a WFM report's wide layout, with the cell types Excel gives such a report
(date cells, durations, percentages). Regenerate it, never edit it by hand:

    .venv/bin/python examples/make_kpi_workbook.py
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from openpyxl import Workbook

HEADER = ["Agent", "Date", "Average Handle Time", "Wrap-up Time", "Contacts", "Adherence %"]
# (agent, day of December 2026, handle time and wrap-up in seconds, contacts, adherence as a fraction)
WEEKS = {
    "Week 1": [
        ("jordan", 7, 410, 33, 66, 0.94),
        ("jordan", 8, 385, 30, 71, 0.965),
        ("lee", 7, 352, 26, 75, 0.99),
        ("lee", 8, 347, 29, 77, 0.98),
    ],
    "Week 2": [
        ("jordan", 14, 398, 31, 69, 0.95),
        ("lee", 14, 340, 25, 78, 1.0),
    ],
}
# A fixed creation time keeps the file the same from one run to the next.
CREATED = dt.datetime(2026, 12, 15, 9, 0)


def build(path: Path) -> None:
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.creator = "coach examples"
    workbook.properties.created = workbook.properties.modified = CREATED
    for title, rows in WEEKS.items():
        sheet = workbook.create_sheet(title)
        sheet.append(HEADER)
        for agent, day, handle_time, wrap_up, contacts, adherence in rows:
            sheet.append(
                [
                    agent,
                    dt.date(2026, 12, day),
                    dt.timedelta(seconds=handle_time),
                    dt.timedelta(seconds=wrap_up),
                    contacts,
                    adherence,
                ]
            )
            row = sheet.max_row
            sheet.cell(row, 2).number_format = "yyyy-mm-dd"
            sheet.cell(row, 3).number_format = "[h]:mm:ss"
            sheet.cell(row, 4).number_format = "[h]:mm:ss"
            sheet.cell(row, 6).number_format = "0.0%"
    workbook.save(path)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("kpi-report.xlsx"))
