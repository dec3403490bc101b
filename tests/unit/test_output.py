"""The one renderer streams a list: each record is written as it comes."""

from __future__ import annotations

import json

import pytest

from coachcli.cli import output
from coachcli.cli.output import OutputFormat

RECORDS = [
    {"agent": "alex", "metric": "hold-time", "observed_at": "2026-12-15T23:30:00", "value": 11.0},
    {"agent": "sam", "metric": "adherence", "observed_at": "2026-12-16", "value": 90.5, "note": "line\nbreak"},
]


class Written:
    """What the command has written to stdout so far. (pytest's capture puts
    its own sys.stdout back when the test body starts, so a stdout patched by
    a fixture would be replaced: read the capture instead.)"""

    def __init__(self, capsys) -> None:
        self._capsys = capsys
        self._text = ""

    def getvalue(self) -> str:
        self._text += self._capsys.readouterr().out
        return self._text


@pytest.fixture
def stdout(capsys, monkeypatch) -> Written:
    monkeypatch.setenv("COACH_TZ", "UTC")
    return Written(capsys)


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
