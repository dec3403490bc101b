"""The one renderer streams a list: each record is written as it comes."""

from __future__ import annotations

import io
import json

import pytest

from coachcli.cli import output
from coachcli.cli.output import OutputFormat

RECORDS = [
    {"agent": "alex", "metric": "hold-time", "observed_at": "2026-12-15T23:30:00", "value": 11.0},
    {"agent": "sam", "metric": "adherence", "observed_at": "2026-12-16", "value": 90.5, "note": "line\nbreak"},
]


@pytest.fixture
def stdout(monkeypatch) -> io.StringIO:
    written = io.StringIO()
    monkeypatch.setattr("sys.stdout", written)
    monkeypatch.setenv("COACH_TZ", "UTC")
    return written


@pytest.mark.parametrize("format", [OutputFormat.json, OutputFormat.csv, OutputFormat.tsv])
def test_each_record_is_written_before_the_next_is_read(stdout, format):
    seen_before_next: list[str] = []

    def records():
        for record in RECORDS:
            yield {key: record.get(key) for key in RECORDS[1]}
            seen_before_next.append(stdout.getvalue())

    output.emit(records(), format)
    assert "alex" in seen_before_next[0] and "sam" not in seen_before_next[0]


@pytest.mark.parametrize("records", [RECORDS, RECORDS[:1], []])
def test_a_streamed_json_array_is_byte_for_byte_the_whole_one(stdout, records):
    output.emit(iter(records), OutputFormat.json)
    assert stdout.getvalue() == json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    assert json.loads(stdout.getvalue()) == records
