"""JSON as coach reads it from people's files (SPEC §14): strict.

`json.loads` keeps the last of a key given twice (`{"value": 92, "value": 5}`
is 5, silently); here an object with a key twice is refused, naming the key
and the line it is repeated on. Every JSON input — JSON Lines, a JSON array
of rows, form files, answers — is read through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.decoder import WHITESPACE, JSONObject, scanstring  # type: ignore[attr-defined]  # public in CPython, untyped
from json.scanner import py_make_scanner  # type: ignore[attr-defined]  # the pure-Python scanner, untyped
from typing import Any


class RepeatedKey(ValueError):
    """An object has `key` twice; the second is on `line` (1-based, of the text read)."""

    def __init__(self, key: str, line: int):
        super().__init__(f"key {key!r} appears twice in one object (line {line})")
        self.key = key
        self.line = line


class _Repeated(Exception):
    pass


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Repeated(key)
        result[key] = value
    return result


def loads(text: str) -> Any:
    """The JSON value of `text`; raises json.JSONDecodeError when it is not
    JSON, RepeatedKey when an object has a key twice."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_repeats)
    except _Repeated:
        raise _located(text, 0) from None


def array_items(text: str, start: int) -> Iterator[tuple[int, Any]]:
    """(line, item) for each item of the JSON array opening at text[start]
    (`[`), read one item at a time so that each is told by its own line; an
    item with a key twice comes as (line, RepeatedKey). Raises
    json.JSONDecodeError when the text is not one JSON array."""
    decoder = json.JSONDecoder(object_pairs_hook=_refuse_repeats)
    position = WHITESPACE.match(text, start + 1).end()
    line, counted = 1 + text.count("\n", 0, position), position
    if text.startswith("]", position):
        position += 1
    else:
        while True:
            line += text.count("\n", counted, position)
            counted = position
            try:
                item, position = decoder.raw_decode(text, position)
            except _Repeated:
                item, position = _located(text, position), _end_of_value(text, position)
            yield line, item
            position = WHITESPACE.match(text, position).end()
            if text.startswith(",", position):
                position = WHITESPACE.match(text, position + 1).end()
                continue
            if text.startswith("]", position):
                position += 1
                break
            raise json.JSONDecodeError("Expecting ',' delimiter or ']'", text, position)
    if text[position:].strip():
        raise json.JSONDecodeError("Extra data after the array", text, WHITESPACE.match(text, position).end())


def _end_of_value(text: str, start: int) -> int:
    return json.JSONDecoder().raw_decode(text, start)[1]


def _located(text: str, start: int) -> RepeatedKey:
    """Where the first repeated key of the value at text[start] is: read it
    again with the pure-Python scanner, which says where each object starts."""
    found: list[RepeatedKey] = []

    def parse_object(string_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        string, opened = string_and_end
        pairs, end = JSONObject(string_and_end, strict, scan_once, None, list, memo)
        if not found:
            repeated = _repeated_key(string, opened, scan_once)
            if repeated is not None:
                key, at = repeated
                found.append(RepeatedKey(key, 1 + string.count("\n", 0, at)))
        return dict(pairs), end

    decoder = json.JSONDecoder()
    # The decoder's hooks for its scanner: set on the instance, as json's own __init__ does.
    decoder.parse_object = parse_object  # type: ignore[attr-defined]  # see above
    decoder.scan_once = py_make_scanner(decoder)  # type: ignore[attr-defined]  # see above
    decoder.raw_decode(text, WHITESPACE.match(text, start).end())
    assert found, "the fast reader found a repeated key"
    return found[0]


def _repeated_key(text: str, position: int, scan_once) -> tuple[str, int] | None:
    """The first key given twice among the members of the object whose `{`
    is just before `position`, and where it is repeated."""
    seen: set[str] = set()
    position = WHITESPACE.match(text, position).end()
    while text.startswith('"', position):
        key, after = scanstring(text, position + 1, True)
        if key in seen:
            return key, position
        seen.add(key)
        colon = WHITESPACE.match(text, after).end()
        _, position = scan_once(text, WHITESPACE.match(text, colon + 1).end())
        position = WHITESPACE.match(text, position).end()
        if not text.startswith(",", position):
            break
        position = WHITESPACE.match(text, position + 1).end()
    return None
