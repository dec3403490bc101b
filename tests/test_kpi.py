"""KPI metrics, the bulk KPI import (all-or-nothing, upsert counts) and `kpi list`."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from coachcli.db.models import AuditEntry, KpiObservation
from coachcli.errors import CoachError
from coachcli.metrics import METRICS
from coachcli.records import as_dict
from coachcli.services import kpi

HEADER = "agent,metric,observed_at,value\n"


def _import(db, text: str, **options):
    # The counts' keys and values, as `kpi import -o json` prints them.
    return as_dict(kpi.import_observations(db, None, text.splitlines(keepends=True), "kpi.csv", **options))


def _stored(db) -> dict[tuple[int, str, str], float]:
    return {(row.agent_id, row.metric, row.observed_at): row.value for row in db.exec(select(KpiObservation))}


def _rows(cli) -> list[tuple]:
    return cli.query("SELECT * FROM kpi_observations ORDER BY 1, 2, 3")


# --- the service ---------------------------------------------------------


def test_import_counts_inserts_then_unchanged_then_updates(db, center):
    text = HEADER + "alex,handle-time,2026-12-15,350\nalex,handle-time,2026-12-16,410\nsam,adherence,2026-12-15,87.5\n"
    assert _import(db, text) == {"inserted": 3, "updated": 0, "unchanged": 0, "skipped": 0}
    assert _import(db, text) == {"inserted": 0, "updated": 0, "unchanged": 3, "skipped": 0}
    changed = (
        HEADER + "alex,handle-time,2026-12-15,300\nalex,handle-time,2026-12-16,410\nmaria,hold-time,2026-12-15,20\n"
    )
    assert _import(db, changed) == {"inserted": 1, "updated": 1, "unchanged": 1, "skipped": 0}
    stored = _stored(db)
    assert stored[(center.alex.id, "handle-time", "2026-12-15")] == 300.0
    assert stored[(center.sam.id, "adherence", "2026-12-15")] == 87.5
    assert len(stored) == 4


def test_metric_names_date_column_and_offsets_are_normalized(db, center):
    text = (
        "Agent,Metric,Date,Value\n"
        'alex,"Manual QM - Overall Score",2026-12-15,91\n'
        "alex,handle time,2026-12-15T23:30:00+00:00,300\n"
        "ALEX ,Contacts_Handled,2026-12-16 08:00,70\n"
    )
    assert _import(db, text)["inserted"] == 3
    assert set(_stored(db)) == {
        (center.alex.id, "manual-qm-overall-score", "2026-12-15"),
        (center.alex.id, "handle-time", "2026-12-15T23:30:00"),
        (center.alex.id, "contacts-handled", "2026-12-16T08:00:00"),
    }


def test_the_last_row_for_a_key_wins_within_a_file(db, center):
    text = HEADER + "alex,adherence,2026-12-15,40\nalex,adherence,2026-12-15,60\nalex,adherence,2026-12-15,55\n"
    counts = _import(db, text)
    # Each row counts once, in file order: a new key, then two changes of it.
    assert counts == {"inserted": 1, "updated": 2, "unchanged": 0, "skipped": 0}
    assert _stored(db) == {(center.alex.id, "adherence", "2026-12-15"): 55.0}


def test_repeated_keys_count_row_by_row_against_what_was_stored(db, center):
    _import(db, HEADER + "alex,adherence,2026-12-15,40\nalex,adherence,2026-12-16,70\n")
    text = (
        HEADER + "alex,adherence,2026-12-15,40\nalex,adherence,2026-12-15,40\nalex,adherence,2026-12-15,45\n"
        "alex,adherence,2026-12-16,80\nalex,adherence,2026-12-16,70\nalex,adherence,2026-12-17,50\n"
    )
    # 15th: same as stored, same again, changed; 16th: changed, changed back; 17th: new.
    assert _import(db, text) == {"inserted": 1, "updated": 3, "unchanged": 2, "skipped": 0}
    assert _stored(db) == {
        (center.alex.id, "adherence", "2026-12-15"): 45.0,
        (center.alex.id, "adherence", "2026-12-16"): 70.0,
        (center.alex.id, "adherence", "2026-12-17"): 50.0,
    }


def test_json_lines_are_accepted(db, center):
    text = (
        '{"agent": "alex", "metric": "hold-time", "observed_at": "2026-12-15", "value": 42}\n'
        "\n"
        '{"agent": "sam", "metric": "Adherence", "date": "2026-12-15", "value": "99.5"}\n'
    )
    assert _import(db, text)["inserted"] == 2
    assert _stored(db)[(center.sam.id, "adherence", "2026-12-15")] == 99.5


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("ghost,handle-time,2026-12-15,300", "unknown agent 'ghost'"),
        ("alex,speed,2026-12-15,300", "unknown metric 'speed'"),
        # (15/12/2026 is a D/M/YYYY date since SPEC §14; no order reads these two.)
        ("alex,handle-time,15/13/2026,300", "invalid observation date"),
        ("alex,handle-time,2026/12/15,300", "invalid observation time"),
        ("alex,handle-time,2026-02-30,300", "invalid observation date"),
        ("alex,handle-time,2026-12-15,-1", "cannot be negative"),
        ("alex,handle-time,2026-12-15,nan", "finite"),
        ("alex,handle-time,2026-12-15,inf", "finite"),
        ("alex,handle-time,2026-12-15,fast", "give seconds or a clock time"),
        ("alex,adherence,2026-12-15,100.5", "over 100"),
        ("alex,handle-time,2026-12-15", "expected 4 fields"),
    ],
)
def test_a_bad_row_refuses_the_whole_file(db, center, row, reason):
    text = HEADER + "alex,handle-time,2026-12-14,300\n" + row + "\n"
    with pytest.raises(CoachError) as refused:
        _import(db, text)
    assert "line 3" in refused.value.message and reason in refused.value.message
    assert "nothing imported" in refused.value.message
    assert _stored(db) == {}


def test_refusal_names_the_first_few_bad_lines_and_counts_the_rest(db, center):
    good = ["alex,hold-time,2026-12-01,10"] * 3
    bad = [f"alex,hold-time,2026-12-{day:02d},-5" for day in range(1, 9)]
    with pytest.raises(CoachError) as refused:
        _import(db, HEADER + "\n".join(good + bad) + "\n")
    message = refused.value.message
    assert "8 bad rows" in message
    assert "line 5:" in message and "line 9:" in message and "line 10:" not in message
    assert "and 3 more" in message


def test_skip_unknown_leaves_out_and_counts_unknown_agents(db, center):
    text = HEADER + "alex,hold-time,2026-12-15,10\nghost,hold-time,2026-12-15,10\nghost,talk-time,2026-12-16,10\n"
    assert _import(db, text, skip_unknown=True) == {"inserted": 1, "updated": 0, "unchanged": 0, "skipped": 2}
    # Other problems still refuse the file, a row without an agent included.
    with pytest.raises(CoachError, match="unknown metric"):
        _import(db, text + "alex,speed,2026-12-15,1\n", skip_unknown=True)
    with pytest.raises(CoachError, match="line 5: the agent is missing"):
        _import(db, text + " ,hold-time,2026-12-15,1\n", skip_unknown=True)


def test_an_import_is_audited_once_with_its_counts(db, center):
    _import(db, HEADER + "alex,hold-time,2026-12-15,10\nmaria,hold-time,2026-12-15,12\n")
    entries = db.exec(select(AuditEntry).where(AuditEntry.action == "kpi.import")).all()
    assert len(entries) == 1
    assert entries[0].details == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0}


def test_list_is_scoped_and_filtered(db, center):
    _import(
        db,
        HEADER
        + "alex,hold-time,2026-12-14,10\nalex,hold-time,2026-12-15T23:30:00,11\nalex,adherence,2026-12-15,90\n"
        + "alex,hold-time,2026-12-16,12\nsam,hold-time,2026-12-15,30\n",
    )
    import datetime as dt

    assert {r["agent"] for r in kpi.list_observations(db, center.calvin)} == {"alex"}
    assert {r["agent"] for r in kpi.list_observations(db, center.dana)} == {"alex", "sam"}
    assert list(kpi.list_observations(db, center.maria)) == []
    window = list(
        kpi.list_observations(
            db, center.calvin, metric="Hold Time", start=dt.date(2026, 12, 15), end=dt.date(2026, 12, 15)
        )
    )
    assert window == [{"agent": "alex", "metric": "hold-time", "observed_at": "2026-12-15T23:30:00", "value": 11.0}]
    with pytest.raises(CoachError, match="after --to"):  # at once, before a row is read
        kpi.list_observations(db, center.dana, start=dt.date(2026, 12, 16), end=dt.date(2026, 12, 15))


# --- the command line ----------------------------------------------------


def test_kpi_metrics_lists_all_twelve(cli):
    records = cli.json("kpi", "metrics")
    assert [record["key"] for record in records] == [metric.key for metric in METRICS]
    assert records[0] == {
        "key": "talk-time",
        "name": "Talk Time",
        "direction": "lower",
        "unit": "seconds",
        "aliases": ["ATT", "Average Talk Time"],
    }


def test_cli_import_from_a_file_then_again_reports_unchanged(cli, tmp_path):
    path = tmp_path / "kpi.csv"
    path.write_text(HEADER + "alex,hold-time,2026-12-15,10\nsam,adherence,2026-12-15,90\n")
    assert cli.json("kpi", "import", str(path)) == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0}
    again = cli("kpi", "import", str(path))  # no acting user needed; TSV when piped
    assert again.exit_code == 0
    assert again.stdout.splitlines() == ["inserted\tupdated\tunchanged\tskipped", "0\t0\t2\t0"]


def test_cli_import_reads_stdin(cli):
    text = '{"agent": "maria", "metric": "talk-time", "observed_at": "2026-12-15", "value": 200}\n'
    assert cli.json("kpi", "import", "-", input=text)["inserted"] == 1
    assert _rows(cli) == [(5, "talk-time", "2026-12-15", 200.0)]
    with_bom = "\ufeff" + HEADER + "maria,talk-time,2026-12-15,210\r\n"
    assert cli.json("kpi", "import", "-", input=with_bom)["updated"] == 1
    bad = cli("kpi", "import", "-", input=HEADER + "maria,talk-time,2026-12-16,-3\n")
    assert bad.exit_code == 2 and "stdin: 1 bad row" in bad.stderr and "line 2" in bad.stderr
    assert _rows(cli) == [(5, "talk-time", "2026-12-15", 210.0)]


def test_cli_bad_import_changes_nothing(cli, tmp_path):
    path = tmp_path / "kpi.csv"
    path.write_text(HEADER + "alex,hold-time,2026-12-15,10\nghost,hold-time,2026-12-15,10\n")
    result = cli("kpi", "import", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "line 3: unknown agent 'ghost'" in result.stderr and "--skip-unknown" in result.stderr
    assert "Traceback" not in result.stderr
    assert _rows(cli) == []
    skipped = cli.json("kpi", "import", str(path), "--skip-unknown")
    assert skipped == {"inserted": 1, "updated": 0, "unchanged": 0, "skipped": 1}


def test_cli_import_refuses_missing_file_and_wrong_header(cli, tmp_path):
    missing = cli("kpi", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("agent,kpi,observed_at,value\nalex,hold-time,2026-12-15,1\n")
    result = cli("kpi", "import", str(wrong))
    assert result.exit_code == 2 and "unknown column 'kpi'" in result.stderr


def test_cli_kpi_list_is_scoped_and_shows_units(cli, tmp_path):
    path = tmp_path / "kpi.csv"
    path.write_text(HEADER + "alex,hold-time,2026-12-15,300\nsam,adherence,2026-12-15,90\n")
    cli("kpi", "import", str(path))
    assert cli.json("kpi", "list", user="calvin") == [
        {"agent": "alex", "metric": "hold-time", "observed_at": "2026-12-15", "value": 300.0}
    ]
    assert [r["agent"] for r in cli.json("kpi", "list", "--metric", "adherence", user="dana")] == ["sam"]
    assert cli.json("kpi", "list", "--from", "2026-12-16", user="dana") == []
    table = cli("kpi", "list", "-o", "table", user="dana")
    assert table.exit_code == 0
    assert "Hold Time" in table.stdout and "300 s (5:00)" in table.stdout and "90 %" in table.stdout
    assert cli("kpi", "list").exit_code == 5  # needs an acting user


def test_cli_json_output_is_valid_for_scripts(cli, tmp_path):
    path = tmp_path / "kpi.jsonl"
    path.write_text(
        json.dumps({"agent": "alex", "metric": "adherence", "observed_at": "2026-12-15", "value": 50}) + "\n"
    )
    result = cli("kpi", "import", str(path), "-o", "json")
    assert json.loads(result.stdout)["inserted"] == 1


def test_a_bad_row_after_rows_were_staged_still_refuses_the_whole_file_cleanly(cli, monkeypatch):
    """Staged batches (a COPY still open on PostgreSQL) are abandoned with
    the file: one line, exit 2, nothing written, the database usable after."""
    monkeypatch.setattr(kpi, "BATCH_ROWS", 2)
    rows = "".join(f"alex,handle-time,2026-12-{day:02d},300\n" for day in range(1, 8))
    bad = cli("kpi", "import", "-", input=HEADER + rows + "alex,handle-time,2026-12-09,fast\n")
    assert bad.exit_code == 2 and "line 9" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert _rows(cli) == []
    assert cli.json("kpi", "import", "-", input=HEADER + rows)["inserted"] == 7
