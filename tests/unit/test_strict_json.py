"""Strict JSON: what json reads, except an object with a key twice, which is
refused with the key and the line it is repeated on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachcli import strict_json

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(VALUES, st.sampled_from([None, 2]))
def test_it_reads_whatever_json_writes(value, indent):
    assert strict_json.loads(json.dumps(value, indent=indent)) == value


@given(st.dictionaries(st.text(max_size=5), VALUES, min_size=1, max_size=4), st.data())
def test_a_key_given_twice_anywhere_is_refused(value, data):
    key = data.draw(st.sampled_from(sorted(value)))
    text = json.dumps({"outer": [value]}, indent=1)
    member = json.dumps(key) + ": "
    twice = text.replace(member, member + "0, " + member, 1)
    with pytest.raises(strict_json.RepeatedKey) as repeated:
        strict_json.loads(twice)
    assert repeated.value.key == key
    assert 1 <= repeated.value.line <= twice.count("\n") + 1


def test_the_line_is_that_of_the_repeated_key():
    text = '{\n "fields": [\n  {"key": "a"},\n  {"key": "b",\n   "key": "c"}\n ]\n}'
    with pytest.raises(strict_json.RepeatedKey) as repeated:
        strict_json.loads(text)
    assert (repeated.value.key, repeated.value.line) == ("key", 5)


def test_an_array_is_read_item_by_item_with_their_lines():
    text = '\n[\n {"a": 1},\n {"a": 2, "a": 3}, {"b": [1,\n 2]},\n {"c": {}}\n]\n'
    items = list(strict_json.array_items(text, text.index("[")))
    assert [line for line, _ in items] == [3, 4, 4, 6]
    assert isinstance(items[1][1], strict_json.RepeatedKey) and items[1][1].line == 4
    assert [item for _, item in items if not isinstance(item, Exception)] == [{"a": 1}, {"b": [1, 2]}, {"c": {}}]
    assert list(strict_json.array_items("[ ]", 0)) == []
    for broken in ("[1, 2", "[1 2]", "[1,]", "[1] x"):
        with pytest.raises(json.JSONDecodeError):
            list(strict_json.array_items(broken, 0))
