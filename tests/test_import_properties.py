"""Property-based: any import file gives counts or one clean CoachError —
never another exception — and a refused file changes nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import build_center
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from coachcli.db import open_database
from coachcli.db.models import CoachingSession, KpiObservation, User
from coachcli.errors import CoachError
from coachcli.records import as_dict
from coachcli.services import kpi, roster, scheduling

PLAUSIBLE = {
    "agent": ["alex", "maria", "ALEX ", "nobody", "", "sam"],
    "metric": ["handle-time", "Adherence", "Manual QM - Overall Score", "speed", ""],
    "observed_at": ["2026-12-15", "2026-12-25T23:30:00", "2026-12-25T10:00:00+02:00", "15/12/2026", "", "2026-02-30"],
    "value": ["350", "49.5", "-1", "101", "nan", "inf", "1e400", "", "5m"],
}
cells = st.one_of(st.text(max_size=12), st.sampled_from(sorted({v for vs in PLAUSIBLE.values() for v in vs})))


def _csv_line(values: list[str]) -> str:
    return ",".join('"' + value.replace('"', '""') + '"' for value in values) + "\n"


@pytest.fixture(scope="module")
def center_engine(tmp_path_factory):
    engine = open_database(str(tmp_path_factory.mktemp("props") / "coach.db"), create=True)
    with Session(engine) as db:
        build_center(db)
        db.commit()
    yield engine
    engine.dispose()


def _attempt(engine, action):
    """Run one import in a transaction that is always rolled back."""
    with Session(engine) as db:
        before = db.exec(select(func.count()).select_from(KpiObservation)).one()
        try:
            result = action(db)
        except CoachError as error:
            assert "\n" not in error.message
            assert db.exec(select(func.count()).select_from(KpiObservation)).one() == before
            result = None
        finally:
            db.rollback()
    return result


settings_for_imports = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@settings_for_imports
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=5), max_size=6), skip=st.booleans())
def test_kpi_import_gives_counts_or_a_clean_error(center_engine, rows, skip):
    lines = ["agent,metric,observed_at,value\n", *(_csv_line(row) for row in rows)]
    result = _attempt(
        center_engine,
        lambda db: as_dict(kpi.import_observations(db, None, lines, "kpi.csv", skip_unknown=skip)),
    )
    if result is not None:
        assert set(result) == {"inserted", "updated", "unchanged", "skipped"}
        # Each data row counts once, at most (blank lines are not rows).
        assert sum(result.values()) <= len(rows)
        assert all(count >= 0 for count in result.values())


WIDE_HEADERS = ["Agent ID", "Login", "Date", "Interval", "AHT", "Wrap-up Time", "Adherence %", "Contacts", "Team", ""]
REPORT_VALUES = ["6:40", "0:06:40", "95%", "95,5 %", "300,5", "1:60:00", "400s", "", " "]
wide_cells = st.one_of(cells, st.sampled_from(REPORT_VALUES))


@settings_for_imports
@given(
    header=st.lists(st.sampled_from(WIDE_HEADERS), min_size=1, max_size=6),
    rows=st.lists(st.lists(wide_cells, min_size=0, max_size=6), max_size=5),
    delimiter=st.sampled_from([",", ";", "\t"]),
    skip=st.booleans(),
)
def test_wide_kpi_import_in_any_delimiter_gives_counts_or_a_clean_error(center_engine, header, rows, delimiter, skip):
    def line(values: list[str]) -> str:
        return delimiter.join('"' + value.replace('"', '""') + '"' for value in values) + "\r\n"

    lines = [line(header), *(line(row) for row in rows)]
    result = _attempt(
        center_engine,
        lambda db: as_dict(kpi.import_observations(db, None, lines, "report.csv", skip_unknown=skip)),
    )
    if result is not None:
        assert all(count >= 0 for count in result.values())
        # Each non-empty cell counts once, at most.
        assert sum(result.values()) <= sum(len(row) for row in rows)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


@settings_for_imports
@given(
    objects=st.lists(
        st.dictionaries(
            st.sampled_from(["agent", "metric", "observed_at", "value", "date", "x"]), json_values, max_size=5
        ),
        min_size=1,
        max_size=5,
    )
)
def test_kpi_import_of_json_lines_gives_counts_or_a_clean_error(center_engine, objects):
    lines = [json.dumps(item) + "\n" for item in objects]
    _attempt(center_engine, lambda db: kpi.import_observations(db, None, lines, "kpi.jsonl"))


@settings_for_imports
@given(rows=st.lists(st.lists(cells, min_size=5, max_size=9), max_size=4))
def test_session_import_gives_counts_or_a_clean_error(center_engine, rows):
    header = "title,agent,coach,date,start,path,kpi,target,target_date\n"
    lines = [header, *(_csv_line(row) for row in rows)]

    def action(db):
        calvin = db.exec(select(User).where(User.handle == "calvin")).one()
        before = db.exec(select(func.count()).select_from(CoachingSession)).one()
        try:
            return scheduling.import_sessions(db, calvin, lines, "sessions.csv", today=dt.date(2026, 12, 1))
        except CoachError:
            assert db.exec(select(func.count()).select_from(CoachingSession)).one() == before
            raise

    _attempt(center_engine, action)


@settings_for_imports
@given(rows=st.lists(st.lists(cells, min_size=4, max_size=4), max_size=4))
def test_roster_import_gives_counts_or_a_clean_error(center_engine, rows):
    lines = ["handle,name,role,teams\n", *(_csv_line(row) for row in rows)]

    def action(db):
        dana = db.exec(select(User).where(User.handle == "dana")).one()
        return roster.import_roster(db, dana, lines, "roster.csv")

    _attempt(center_engine, action)
