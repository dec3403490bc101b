"""Coaching forms: loading, validation messages, answer coercion and merging."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachcli.errors import CoachError, ExitCode
from coachcli.forms import (
    FormField,
    FormSpec,
    coerce_answer,
    format_answer,
    load_form_file,
    merge_answers,
    missing_required,
    parse_answers_json,
    parse_assignments,
    parse_form,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "forms"
CALL_QUALITY = EXAMPLES / "call-quality.toml"
CHAT_REVIEW = EXAMPLES / "chat-review.json"

GREETING = FormField("greeting", "Greeting", "rating", required=True, min=1, max=5)
HANDLE_TIME = FormField("handle_time", "Handle time (seconds)", "number", min=0, max=3600)
SCORE = FormField("score", "Score", "number")
HOLD = FormField("hold_etiquette", "Hold etiquette", "yesno")
CHANNEL = FormField("channel", "Channel", "choice", options=("phone", "chat", "email"))
NOTES = FormField("notes", "Notes", "text", required=True)
ALL_TYPES = (GREETING, HANDLE_TIME, SCORE, HOLD, CHANNEL, NOTES)
FORM = FormSpec("Call quality", "", ALL_TYPES)


def refusal(call, *args) -> str:
    with pytest.raises(CoachError) as caught:
        call(*args)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert len(caught.value.message.splitlines()) == 1
    return caught.value.message


def form_with(*fields: dict) -> dict:
    return {"name": "Call quality", "fields": list(fields)}


def rating(**overrides) -> dict:
    return {"key": "greeting", "type": "rating", "min": 1, "max": 5} | overrides


# --- loading files -----------------------------------------------------------


def test_call_quality_example_loads():
    form = load_form_file(CALL_QUALITY)

    assert form.name == "Call quality"
    assert 8 <= len(form.fields) <= 10
    assert form.field("greeting").describe() == "rating 1–5"
    assert form.field("channel").options == ("phone", "chat", "email")
    assert form.field("hold_etiquette").type == "yesno"
    assert form.field("handle_time").describe() == "number ≥ 0"
    assert {"opportunities", "agreed_actions"} <= set(missing_required(form, {}))


def test_chat_review_example_loads_with_the_same_keys_as_toml():
    form = load_form_file(CHAT_REVIEW)

    assert form.name == "Chat review"
    assert form.description
    assert form.field("greeting").required is True
    assert form.field("resolution").type == "choice"


@pytest.mark.parametrize("path", [CALL_QUALITY, CHAT_REVIEW])
def test_stored_form_round_trips_exactly_through_json(path):
    form = load_form_file(path)

    stored = json.loads(json.dumps(form.to_dict()))

    assert FormSpec.from_dict(stored) == form


def test_toml_syntax_error_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "Call quality"\n[[fields]]\nkey = \n')

    message = refusal(load_form_file, path)

    assert message.startswith(f"{path}: invalid TOML")
    assert "line 3" in message and "column" in message


def test_json_syntax_error_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "Chat review",\n  "fields": [}\n}\n')

    message = refusal(load_form_file, path)

    assert message.startswith(f"{path}: invalid JSON at line 3, column 14")


def test_other_extensions_are_refused_with_the_formats_accepted(tmp_path):
    path = tmp_path / "form.yaml"
    path.write_text("name: x\n")

    assert ".toml or .json" in refusal(load_form_file, path)


def test_missing_file_is_reported(tmp_path):
    assert "no such file" in refusal(load_form_file, tmp_path / "absent.toml")


def test_file_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Qualité"\n'.encode("latin-1"))

    assert "not UTF-8" in refusal(load_form_file, path)


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(form_with(rating())).encode())

    assert load_form_file(path).field("greeting").max == 5


# --- validation: every rule, with its location ---------------------------------


def test_located_message_names_file_field_index_and_key():
    data = form_with({"key": "channel", "type": "text"}, {"key": "empathy", "type": "text"}, rating(min=5, max=1))

    message = refusal(parse_form, data, "call-quality.toml")

    assert message.startswith('call-quality.toml: fields[2] ("greeting"): rating needs min < max')


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (["name"], "a form must be a table"),
        ({"fields": [rating()]}, "name must be a non-empty string"),
        ({"name": "   ", "fields": [rating()]}, "name must be a non-empty string"),
        ({"name": 7, "fields": [rating()]}, "name must be a non-empty string"),
        ({"name": "Call\nquality", "fields": [rating()]}, "name: remove the character U+000A; it must be one line"),
        ({"name": "x", "description": 3, "fields": [rating()]}, "description must be a string"),
        ({"name": "x"}, "fields must be a non-empty list"),
        ({"name": "x", "fields": []}, "fields must be a non-empty list"),
        ({"name": "x", "fields": {"key": "a"}}, "fields must be a non-empty list"),
        ({"name": "x", "feilds": [rating()]}, 'unknown setting "feilds"; did you mean fields?'),
    ],
)
def test_form_level_rules(data, expected):
    message = refusal(parse_form, data, "call-quality.toml")

    assert message.startswith("call-quality.toml: ")
    assert expected in message


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("greeting", "fields[0]: a field must be a table"),
        ({"type": "text"}, "fields[0]: key is required"),
        ({"key": "Greeting", "type": "text"}, 'fields[0]: key "Greeting" must start with a lowercase letter'),
        ({"key": "1st", "type": "text"}, "must start with a lowercase letter"),
        ({"key": "hold-etiquette", "type": "text"}, "only a-z, 0-9 and _"),
        ({"key": "greeting\n", "type": "text"}, r'key "greeting\n" must'),
        ({"key": 5, "type": "text"}, "key 5 must start"),
        ({"kye": "greeting", "type": "text"}, 'unknown setting "kye"; did you mean key?'),
        ({"key": "greeting"}, '("greeting"): type must be one of text, rating, number, yesno, choice; found nothing'),
        ({"key": "greeting", "type": "stars"}, 'found "stars"'),
        (rating(requred=True), 'unknown setting "requred"; did you mean required?'),
        (rating(required="yes"), 'required must be true or false, not "yes"'),
        (rating(label=""), "label must be a non-empty string"),
        (rating(label=["Greeting"]), "label must be a non-empty string"),
        (rating(label="Greeting\nand verification"), "label: remove the character U+000A; it must be one line"),
        ({"key": "greeting", "type": "rating", "max": 5}, "rating needs min and max"),
        ({"key": "greeting", "type": "rating", "min": 1}, "rating needs min and max"),
        (rating(min=3, max=3), "rating needs min < max (found min 3, max 3)"),
        (rating(min=1.5), "rating min and max must be whole numbers"),
        (rating(min=True), "min must be a number, not true"),
        (rating(max="5"), 'max must be a number, not "5"'),
        (rating(max=math.inf), "max must be a finite number"),
        (rating(min=math.nan), "min must be a finite number"),
        ({"key": "aht", "type": "number", "min": 600, "max": 60}, "number needs min < max"),
        ({"key": "aht", "type": "number", "max": False}, "max must be a number"),
        ({"key": "notes", "type": "text", "min": 1}, "min does not apply to a text field"),
        ({"key": "ok", "type": "yesno", "options": ["yes"]}, "options does not apply to a yesno field"),
        (rating(options=["1", "2"]), "options does not apply to a rating field"),
        ({"key": "channel", "type": "choice"}, "choice needs a non-empty list of options"),
        ({"key": "channel", "type": "choice", "options": []}, "choice needs a non-empty list of options"),
        ({"key": "channel", "type": "choice", "options": "phone"}, "choice needs a non-empty list of options"),
        ({"key": "channel", "type": "choice", "options": ["phone", " "]}, "options[1] must be a non-empty string"),
        ({"key": "channel", "type": "choice", "options": ["phone", 2]}, "options[1] must be a non-empty string, not 2"),
        (
            {"key": "channel", "type": "choice", "options": ["a\nb"]},
            "options[0]: remove the character U+000A; it must be one line",
        ),
        ({"key": "channel", "type": "choice", "options": ["phone", "Phone"]}, 'option "Phone" is listed twice'),
    ],
)
def test_field_rules(field, expected):
    message = refusal(parse_form, form_with(field), "call-quality.toml")

    assert message.startswith("call-quality.toml: fields[0]")
    assert expected in message


def test_duplicate_keys_name_both_positions():
    data = form_with(rating(), {"key": "notes", "type": "text"}, rating())

    message = refusal(parse_form, data, "call-quality.toml")

    assert message == (
        'call-quality.toml: fields[2] ("greeting"): key is already used by fields[0]; keys must be unique'
    )


def test_defaults_and_normalisation():
    form = parse_form(
        {
            "name": "  Call quality ",
            "fields": [
                rating(min=1.0, max=5.0),
                {"key": "aht", "type": "number"},
                {"key": "channel", "type": "choice", "options": [" phone ", "chat"]},
            ],
        },
        "form.json",
    )

    greeting = form.field("greeting")
    assert form.name == "Call quality"
    assert form.description == ""
    assert (greeting.label, greeting.required) == ("greeting", False)
    assert (type(greeting.min), type(greeting.max)) == (int, int)
    assert form.field("aht").min is None and form.field("aht").max is None
    assert form.field("channel").options == ("phone", "chat")


@pytest.mark.parametrize(
    ("field", "hint"),
    [
        (GREETING, "rating 1–5"),
        (HANDLE_TIME, "number 0–3600"),
        (SCORE, "number"),
        (FormField("aht", "AHT", "number", min=0), "number ≥ 0"),
        (FormField("fails", "Failures", "number", max=2.5), "number ≤ 2.5"),
        (HOLD, "yes/no"),
        (CHANNEL, "one of: phone, chat, email"),
        (NOTES, "text"),
    ],
)
def test_describe(field, hint):
    assert field.describe() == hint


def test_unknown_field_key_lists_valid_keys():
    message = refusal(FORM.field, "greting")

    assert message == (
        'unknown field "greting" in form "Call quality"; '
        "valid keys: greeting, handle_time, score, hold_etiquette, channel, notes"
    )


# --- coercing answers -----------------------------------------------------------


def test_text_is_kept_verbatim_and_empty_means_no_answer():
    assert coerce_answer(NOTES, "  Slow down.\nRecap. ") == "  Slow down.\nRecap. "
    assert coerce_answer(NOTES, "") is None
    assert coerce_answer(NOTES, None) is None
    assert "expected text, found 5" in refusal(coerce_answer, NOTES, 5)
    assert "not valid Unicode" in refusal(coerce_answer, NOTES, "lone \ud800 surrogate")


@pytest.mark.parametrize(("raw", "stored"), [("4", 4), (" 5 ", 5), ("1", 1), ("4.0", 4), (3, 3), (2.0, 2), ("+3", 3)])
def test_rating_accepts_whole_numbers_in_range(raw, stored):
    value = coerce_answer(GREETING, raw)

    assert value == stored
    assert type(value) is int


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", "greeting: 7 is out of range 1–5 (rating)"),
        ("0", "greeting: 0 is out of range 1–5 (rating)"),
        (6.0, "greeting: 6 is out of range 1–5 (rating)"),
        ("3.5", "greeting: 3.5 is not a whole number; give a rating 1–5"),
        (4.5, "greeting: 4.5 is not a whole number"),
        ("four", 'greeting: "four" is not a number; give a rating 1–5'),
        (True, "greeting: true is not a number"),
        ("nan", 'greeting: "nan" is not a number'),
        (math.inf, "greeting: inf is not a finite number"),
        ([4], "greeting: a list is not a number"),
    ],
)
def test_rating_refusals(raw, expected):
    assert refusal(coerce_answer, GREETING, raw).startswith(expected)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("300", 300), ("12.5", 12.5), ("0", 0), ("3600", 3600), ("1e3", 1000), (".5", 0.5), (42.25, 42.25)],
)
def test_number_within_bounds(raw, stored):
    value = coerce_answer(HANDLE_TIME, raw)

    assert value == stored
    assert type(value) is type(stored)


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (HANDLE_TIME, "-1", "handle_time: -1 is out of range 0–3600 (number)"),
        (HANDLE_TIME, "3600.5", "handle_time: 3600.5 is out of range 0–3600 (number)"),
        (FormField("aht", "AHT", "number", min=0), "-3", "aht: -3 is below the minimum 0 (number)"),
        (FormField("fails", "Failures", "number", max=2), "3", "fails: 3 is above the maximum 2 (number)"),
        (SCORE, "1e999", 'score: "1e999" is not a finite number'),
        (SCORE, "inf", 'score: "inf" is not a number'),
        (SCORE, "1_000", 'score: "1_000" is not a number'),
        (SCORE, "١٢", 'score: "١٢" is not a number'),
        (SCORE, False, "score: false is not a number"),
        (SCORE, math.nan, "score: nan is not a finite number"),
        (SCORE, 10**400, "score: a number too large is not a finite number"),
    ],
)
def test_number_refusals(field, raw, expected):
    assert refusal(coerce_answer, field, raw).startswith(expected)


def test_unbounded_number_accepts_negatives_and_large_values():
    assert coerce_answer(SCORE, "-12.75") == -12.75
    assert coerce_answer(SCORE, "123456789012345678901234567890") == 123456789012345678901234567890


@pytest.mark.parametrize("raw", ["true", "YES", "y", "Y", "1", " yes ", True])
def test_yes_spellings(raw):
    assert coerce_answer(HOLD, raw) is True


@pytest.mark.parametrize("raw", ["false", "No", "n", "N", "0", False])
def test_no_spellings(raw):
    assert coerce_answer(HOLD, raw) is False


@pytest.mark.parametrize("raw", ["maybe", "2", 1, 0, ["yes"]])
def test_yesno_refusals(raw):
    assert "is not yes or no; use yes/no, true/false, y/n or 1/0" in refusal(coerce_answer, HOLD, raw)


@pytest.mark.parametrize(("raw", "stored"), [("phone", "phone"), ("PHONE", "phone"), (" Chat ", "chat")])
def test_choice_matches_ignoring_case_and_returns_the_option(raw, stored):
    assert coerce_answer(CHANNEL, raw) == stored


@pytest.mark.parametrize(("raw", "shown"), [("fax", '"fax"'), (3, "3"), (True, "true")])
def test_choice_refusals_list_the_options(raw, shown):
    assert refusal(coerce_answer, CHANNEL, raw) == f"channel: {shown} is not one of: phone, chat, email"


@pytest.mark.parametrize("field", [GREETING, HANDLE_TIME, HOLD, CHANNEL])
@pytest.mark.parametrize("raw", [None, "", "   "])
def test_empty_answer_means_no_answer_for_every_type(field, raw):
    assert coerce_answer(field, raw) is None


# --- merging, assignments, answers files ------------------------------------------


def test_merge_keeps_other_answers_and_orders_by_form():
    current = {"notes": "Recap the call", "greeting": 3}

    merged = merge_answers(FORM, current, {"channel": "Chat", "greeting": "5"})

    assert merged == {"greeting": 5, "channel": "chat", "notes": "Recap the call"}
    assert list(merged) == ["greeting", "channel", "notes"]
    assert current == {"notes": "Recap the call", "greeting": 3}


@pytest.mark.parametrize("empty", ["", None])
def test_merge_removes_an_answer_set_to_empty(empty):
    merged = merge_answers(FORM, {"greeting": 3, "channel": "phone"}, {"greeting": empty})

    assert merged == {"channel": "phone"}


def test_merge_keeps_stored_answers_the_form_does_not_define():
    merged = merge_answers(FORM, {"retired_field": "kept", "greeting": 2}, {"hold_etiquette": "no"})

    assert list(merged.items()) == [("greeting", 2), ("hold_etiquette", False), ("retired_field", "kept")]


def test_merge_refuses_unknown_keys_and_bad_values():
    assert "valid keys: greeting, handle_time" in refusal(merge_answers, FORM, {}, {"greetng": "4"})
    assert refusal(merge_answers, FORM, {}, {"greeting": "9"}) == "greeting: 9 is out of range 1–5 (rating)"


def test_parse_assignments_splits_on_the_first_equals_sign():
    pairs = ["greeting=4", "notes=Use a=b framing", " channel =phone", "strengths=", "greeting=5"]

    assert parse_assignments(pairs) == {
        "greeting": "5",
        "notes": "Use a=b framing",
        "channel": "phone",
        "strengths": "",
    }


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("greeting", '--set "greeting": expected KEY=VALUE, e.g. --set greeting=4'),
        ("=4", "--set \"=4\": a field key is needed before '=', e.g. --set greeting=4"),
        ("  =4", '--set "  =4": a field key is needed'),
    ],
)
def test_parse_assignments_refusals(pair, expected):
    assert refusal(parse_assignments, [pair]).startswith(expected)


def test_answers_json_object_is_returned_as_is():
    answers = parse_answers_json('{"greeting": 4, "hold_etiquette": true, "notes": null}', "answers.json")

    assert answers == {"greeting": 4, "hold_etiquette": True, "notes": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"greeting": 4}]', "answers.json: answers must be a JSON object of field key to answer"),
        ('"greeting=4"', 'found "greeting=4"'),
        ('{\n  "greeting": 4,\n}', "answers.json: invalid JSON at line 3, column 1"),
        ("", "answers.json: invalid JSON at line 1, column 1"),
        ("[" * 100_000, "answers.json: invalid JSON"),
    ],
)
def test_answers_json_refusals(text, expected):
    assert expected in refusal(parse_answers_json, text, "answers.json")


def test_missing_required_lists_unanswered_required_fields_in_form_order():
    assert missing_required(FORM, {}) == ["greeting", "notes"]
    assert missing_required(FORM, {"greeting": 4, "notes": ""}) == ["notes"]
    assert missing_required(FORM, {"greeting": 4, "notes": "Recap", "channel": None}) == []


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        (HOLD, True, "yes"),
        (HOLD, False, "no"),
        (GREETING, None, ""),
        (GREETING, 4, "4"),
        (SCORE, 12.5, "12.5"),
        (CHANNEL, "chat", "chat"),
        (NOTES, "Recap", "Recap"),
    ],
)
def test_format_answer(field, value, shown):
    assert format_answer(field, value) == shown


# --- properties: any input gives a result or a CoachError, never a crash -------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_like = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
one_line_text = st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=12).filter(
    str.strip
)
finite_floats = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@st.composite
def valid_fields(draw) -> dict:
    field_type = draw(st.sampled_from(["text", "rating", "number", "yesno", "choice"]))
    field = {"key": draw(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)), "type": field_type}
    if draw(st.booleans()):
        field["label"] = draw(one_line_text)
    if draw(st.booleans()):
        field["required"] = draw(st.booleans())
    if field_type == "rating":
        lowest = draw(st.integers(-5, 5))
        field |= {"min": lowest, "max": lowest + draw(st.integers(1, 10))}
    if field_type == "number":
        bounds = sorted(draw(st.lists(finite_floats, min_size=2, max_size=2, unique=True)))
        field |= {name: bound for name, bound in zip(("min", "max"), bounds, strict=True) if draw(st.booleans())}
    if field_type == "choice":
        field["options"] = draw(
            st.lists(one_line_text, min_size=1, max_size=4, unique_by=lambda option: option.strip().casefold())
        )
    return field


valid_forms = st.fixed_dictionaries(
    {
        "name": one_line_text,
        "fields": st.lists(valid_fields(), min_size=1, max_size=5, unique_by=lambda field: field["key"]),
    },
    # A description may hold line breaks and tabs, never another control character.
    optional={
        "description": st.text(st.characters(exclude_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"), max_size=30)
    },
)
junk_fields = st.dictionaries(
    st.sampled_from(["key", "label", "type", "required", "min", "max", "options", "requred"]),
    st.one_of(
        st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
        st.sampled_from(["text", "rating", "number", "yesno", "choice"]),
        st.booleans(),
        st.integers(-3, 10),
        st.floats(allow_nan=True),
        st.lists(st.text(max_size=6), max_size=4),
        json_like,
    ),
)
noisy_forms = st.fixed_dictionaries(
    {"name": one_line_text | st.text(max_size=10), "fields": st.lists(valid_fields() | junk_fields, max_size=4)},
    optional={"description": st.text(max_size=10) | json_like},
)


def parse_or_refuse(data: object) -> FormSpec | None:
    try:
        return parse_form(data, "generated.json")
    except CoachError as error:
        assert len(error.message.splitlines()) == 1
        assert error.message.startswith("generated.json: ")
        return None


@settings(max_examples=150)
@given(json_like | noisy_forms)
def test_parse_form_gives_a_form_or_a_coach_error_for_any_data(data):
    form = parse_or_refuse(data)

    assert form is None or (isinstance(data, dict) and len(form.fields) == len(data["fields"]))


@settings(max_examples=150)
@given(valid_forms)
def test_valid_forms_parse_and_round_trip_exactly_through_storage(data):
    form = parse_form(data, "generated.json")

    stored = json.loads(json.dumps(form.to_dict()))

    assert FormSpec.from_dict(stored) == form
    assert [field.key for field in form.fields] == [field["key"] for field in data["fields"]]
    assert all(field.describe() for field in form.fields)


BOUNDED_FLOATS = FormField("ratio", "Ratio", "number", min=-2.5, max=1e6)


@settings(max_examples=100)
@given(st.sampled_from(ALL_TYPES + (BOUNDED_FLOATS,)), st.one_of(st.text(), json_like))
def test_coerce_answer_gives_a_valid_value_or_a_coach_error(field, raw):
    try:
        value = coerce_answer(field, raw)
    except CoachError as error:
        assert len(error.message.splitlines()) == 1
        assert error.message.startswith(f"{field.key}: ")
        return

    if value is None:
        return
    assert coerce_answer(field, value) == value
    if field.type == "rating":
        assert type(value) is int and field.min <= value <= field.max
    elif field.type == "number":
        assert not isinstance(value, bool) and math.isfinite(value)
        assert field.min is None or field.min <= value
        assert field.max is None or value <= field.max
    elif field.type == "yesno":
        assert isinstance(value, bool)
    elif field.type == "choice":
        assert value in field.options
    else:
        # A text keeps what was typed, its line breaks stored as LF.
        assert value == raw.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=100)
@given(st.dictionaries(st.sampled_from([*FORM.keys, "other"]), st.one_of(st.text(max_size=8), json_like), max_size=4))
def test_merge_answers_result_only_holds_coerced_values(updates):
    try:
        merged = merge_answers(FORM, {"notes": "kept unless updated"}, updates)
    except CoachError as error:
        assert len(error.message.splitlines()) == 1
        return

    assert None not in merged.values()
    assert merged == merge_answers(FORM, merged, {})
    if "notes" not in updates:
        assert merged["notes"] == "kept unless updated"
