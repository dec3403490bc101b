"""The one renderer streams a list: each record is written as it comes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from coachcli.cli import output
from coachcli.cli.output import OutputFormat
from coachcli.records import WITHHELD, column

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


@dataclass(frozen=True)
class Shown:
    """A record declaring its columns once: its fields are its keys."""

    id: int = column("ID")
    agent: str = column("Agent")
    note: str | None = column("Note", listed=False)
    secret: str | None = column("Secret", listed=False)
    raw: float | None = column(None)


SHOWN = [Shown(1, "alex", "first", WITHHELD, 1.5), Shown(2, "sam", None, WITHHELD, None)]


def test_a_record_s_keys_are_its_fields_in_order_and_a_withheld_one_is_left_out(stdout):
    output.emit(iter(SHOWN), OutputFormat.json)
    assert json.loads(stdout.getvalue()) == [
        {"id": 1, "agent": "alex", "note": "first", "raw": 1.5},
        {"id": 2, "agent": "sam", "note": None, "raw": None},
    ]


def test_a_list_s_csv_header_comes_from_the_record_type_even_with_no_rows(stdout):
    output.emit(iter([]), OutputFormat.csv, output.View(record=Shown))
    assert stdout.getvalue() == "id,agent,note,secret,raw\n"


def test_a_table_shows_the_declared_headers_listed_in_a_list_and_all_for_one_record(stdout):
    output.emit(SHOWN, OutputFormat.table, output.View(title="Shown"))
    listed = stdout.getvalue()
    assert "ID" in listed and "Agent" in listed and "Note" not in listed and "raw" not in listed
    output.emit(SHOWN[0], OutputFormat.table)
    alone = stdout.getvalue()[len(listed) :]
    assert [line.split()[0] for line in alone.strip().splitlines()] == ["ID", "Agent", "Note", "Secret"]
    assert "first" in alone and "WITHHELD" not in alone


def test_a_record_nested_in_a_record_is_a_json_object(stdout):
    @dataclass(frozen=True)
    class Outer:
        name: str = column("Name")
        items: list[Shown] = column("Items")

    output.emit(Outer("x", SHOWN[:1]), OutputFormat.json)
    assert json.loads(stdout.getvalue())["items"] == [{"id": 1, "agent": "alex", "note": "first", "raw": 1.5}]
