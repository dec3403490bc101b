"""Coaching forms: reading a form file, validating it, and checking answers.

No database here: plain data in and out. The database stores a form as
`FormSpec.to_dict()` and answers as a JSON object keyed by field key.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coachcli import strict_json
from coachcli.errors import CoachError
from coachcli.parse import check_text

FieldType = Literal["text", "rating", "number", "yesno", "choice"]
FIELD_TYPES: tuple[str, ...] = ("text", "rating", "number", "yesno", "choice")

_FORM_KEYS = ("name", "description", "fields")
_FIELD_KEYS = ("key", "label", "type", "required", "min", "max", "options")
_TYPE_SPECIFIC_KEYS = {
    "text": (),
    "rating": ("min", "max"),
    "number": ("min", "max"),
    "yesno": (),
    "choice": ("options",),
}
_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# ASCII digits only: float() and int() also accept "nan", "inf", "1_000" and
# non-ASCII digits, none of which a supervisor means as a score.
_DECIMAL_PATTERN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_PATTERN = re.compile(r"[+-]?[0-9]+")
_YES = ("true", "yes", "y", "1")
_NO = ("false", "no", "n", "0")
# Whole floats below this are exactly representable, so storing them as int loses nothing.
_EXACT_INTEGER_LIMIT = 2**53
_QUOTE_LIMIT = 40


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    type: FieldType
    required: bool = False
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] = ()

    def describe(self) -> str:
        """A short hint of what the field accepts, for prompts and `form show`."""
        if self.type == "rating":
            return f"rating {_format_range(self.min, self.max)}"
        if self.type == "number":
            bounds = _format_range(self.min, self.max)
            return f"number {bounds}" if bounds else "number"
        if self.type == "yesno":
            return "yes/no"
        if self.type == "choice":
            return "one of: " + ", ".join(self.options)
        return "text"

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "required": self.required,
        }
        if self.min is not None:
            data["min"] = self.min
        if self.max is not None:
            data["max"] = self.max
        if self.type == "choice":
            data["options"] = list(self.options)
        return data


@dataclass(frozen=True)
class FormSpec:
    name: str
    description: str
    fields: tuple[FormField, ...]

    @property
    def keys(self) -> list[str]:
        return [field.key for field in self.fields]

    def field(self, key: str) -> FormField:
        for field in self.fields:
            if field.key == key:
                return field
        raise CoachError(
            f"unknown field {_show_value(key)} in form {_quote(self.name)}; valid keys: {', '.join(self.keys)}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "fields": [field.to_dict() for field in self.fields],
        }

    @classmethod
    def from_dict(cls, data: object) -> FormSpec:
        # Validated again so a hand-edited or corrupted database row fails with a message.
        return parse_form(data, "stored form")


def load_form_file(path: Path) -> FormSpec:
    source = _printable(str(path))
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        found = f"'{_printable(path.suffix)}'" if path.suffix else "no extension"
        raise CoachError(
            f"{source}: a form file must end in .toml or .json (found {found}); rename it to say which format it is"
        )
    text = _read_text(path, source)
    data = _decode_toml(text, source) if suffix == ".toml" else _decode_json(text, source)
    return parse_form(data, source)


def parse_form(data: object, source: str) -> FormSpec:
    """Validate decoded form data; every refusal names the file and field at fault."""
    source = _printable(source)
    if not isinstance(data, dict):
        raise CoachError(
            f"{source}: a form must be a table (TOML) or object (JSON) with name and fields, not {_show_value(data)}"
        )
    _refuse_unknown_keys(data, _FORM_KEYS, source)
    name = _required_line(data, "name", source, example='name = "Call quality"')
    description = data.get("description", "")
    if not isinstance(description, str):
        raise CoachError(f"{source}: description must be a string, not {_show_value(description)}")
    if _has_surrogates(description):
        raise CoachError(f"{source}: description is not valid Unicode text; save the file as UTF-8")
    description = check_text(description, f"{source}: description", lines=True)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        found = "nothing" if raw_fields is None else _show_value(raw_fields)
        raise CoachError(
            f"{source}: fields must be a non-empty list of fields "
            f"([[fields]] tables in TOML, an array of objects in JSON), found {found}"
        )
    fields: list[FormField] = []
    index_by_key: dict[str, int] = {}
    for index, raw_field in enumerate(raw_fields):
        field = _parse_field(raw_field, f"{source}: fields[{index}]")
        if field.key in index_by_key:
            raise CoachError(
                f"{source}: fields[{index}] ({_quote(field.key)}): key is already used by "
                f"fields[{index_by_key[field.key]}]; keys must be unique"
            )
        index_by_key[field.key] = index
        fields.append(field)
    return FormSpec(name=name, description=description, fields=tuple(fields))


def coerce_answer(field: FormField, raw: object) -> object:
    """One answer, from `--set` text or an answers-file JSON value, as it is stored.

    None means "no answer": JSON null, an empty string, or (for non-text fields)
    only spaces.
    """
    if raw is None:
        return None
    if isinstance(raw, str) and (raw == "" if field.type == "text" else not raw.strip()):
        return None
    if field.type == "text":
        return _coerce_text(field, raw)
    if field.type == "rating":
        return _coerce_rating(field, raw)
    if field.type == "number":
        return _coerce_number(field, raw)
    if field.type == "yesno":
        return _coerce_yesno(field, raw)
    return _coerce_choice(field, raw)


def merge_answers(form: FormSpec, current: dict, updates: dict) -> dict:
    """Apply updates to current answers; an update to "no answer" removes that answer."""
    merged = dict(current)
    for key, raw in updates.items():
        value = coerce_answer(form.field(key), raw)
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    in_form_order = {key: merged.pop(key) for key in form.keys if key in merged}
    # Keys the form does not know are refused above; anything already stored
    # beyond them (written by hand in the database) is kept, never dropped.
    return in_form_order | merged


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` options as a dict; a key given twice keeps its last value."""
    assignments: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip()
        if not separator:
            raise CoachError(f"--set {_quote(pair)}: expected KEY=VALUE, e.g. --set greeting=4")
        if not key:
            raise CoachError(f"--set {_quote(pair)}: a field key is needed before '=', e.g. --set greeting=4")
        assignments[key] = value
    return assignments


def parse_answers_json(text: str, source: str) -> dict:
    """The content of `--answers FILE|-`: a JSON object of field key to answer."""
    source = _printable(source)
    data = _decode_json(text, source)
    if not isinstance(data, dict):
        raise CoachError(
            f"{source}: answers must be a JSON object of field key to answer, "
            f'e.g. {{"greeting": 4, "channel": "phone"}}; found {_show_value(data)}'
        )
    return data


def missing_required(form: FormSpec, answers: dict) -> list[str]:
    return [field.key for field in form.fields if field.required and answers.get(field.key) in (None, "")]


def format_answer(field: FormField, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _format_number(value)
    return str(value)


def _parse_field(raw: object, where: str) -> FormField:
    if not isinstance(raw, dict):
        raise CoachError(
            f"{where}: a field must be a table (TOML) or object (JSON) with key and type, not {_show_value(raw)}"
        )
    key = raw.get("key")
    valid_key = isinstance(key, str) and _KEY_PATTERN.fullmatch(key) is not None
    if isinstance(key, str) and valid_key:
        where = f"{where} ({_quote(key)})"
    # Before the key checks, so a misspelt "kye" is reported as the typo it is.
    _refuse_unknown_keys(raw, _FIELD_KEYS, where)
    if key is None:
        raise CoachError(f'{where}: key is required, e.g. key = "greeting"')
    if not valid_key:
        raise CoachError(
            f"{where}: key {_show_value(key)} must start with a lowercase letter and contain "
            "only a-z, 0-9 and _ (it is typed in --set KEY=VALUE)"
        )

    field_type = raw.get("type")
    if field_type not in FIELD_TYPES:
        found = "nothing" if field_type is None else _show_value(field_type)
        raise CoachError(f"{where}: type must be one of {', '.join(FIELD_TYPES)}; found {found}")
    for setting in ("min", "max", "options"):
        if setting in raw and setting not in _TYPE_SPECIFIC_KEYS[field_type]:
            raise CoachError(f"{where}: {setting} does not apply to a {field_type} field; remove it")

    label = _required_line(raw, "label", where, example='label = "Greeting"') if "label" in raw else key
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise CoachError(f"{where}: required must be true or false, not {_show_value(required)}")

    lower = _parse_bound(raw, "min", where)
    upper = _parse_bound(raw, "max", where)
    options: tuple[str, ...] = ()
    if field_type == "rating":
        if lower is None or upper is None:
            raise CoachError(f"{where}: rating needs min and max, e.g. min = 1 and max = 5")
        if not (isinstance(lower, int) and isinstance(upper, int)):
            raise CoachError(f"{where}: rating min and max must be whole numbers, e.g. min = 1 and max = 5")
    if lower is not None and upper is not None and not lower < upper:
        raise CoachError(
            f"{where}: {field_type} needs min < max (found min {_format_number(lower)}, max {_format_number(upper)})"
        )
    if field_type == "choice":
        options = _parse_options(raw.get("options"), where)
    return FormField(
        key=key,
        label=label,
        type=field_type,
        required=required,
        min=lower,
        max=upper,
        options=options,
    )


def _parse_bound(raw: dict, setting: str, where: str) -> int | float | None:
    if setting not in raw:
        return None
    value = raw[setting]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CoachError(f"{where}: {setting} must be a number, not {_show_value(value)}")
    if not _is_finite(value):
        raise CoachError(f"{where}: {setting} must be a finite number, not {_show_value(value)}")
    return _whole_as_int(value)


def _parse_options(raw: object, where: str) -> tuple[str, ...]:
    example = 'e.g. options = ["phone", "chat", "email"]'
    if not isinstance(raw, list) or not raw:
        found = "nothing" if raw is None else _show_value(raw)
        raise CoachError(f"{where}: choice needs a non-empty list of options, {example}; found {found}")
    options: list[str] = []
    seen: set[str] = set()
    for index, option in enumerate(raw):
        if not isinstance(option, str) or not option.strip():
            raise CoachError(f"{where}: options[{index}] must be a non-empty string, not {_show_value(option)}")
        option = check_text(option, f"{where}: options[{index}]").strip()
        # Answers match options ignoring case, so options differing only in case would be ambiguous.
        if option.casefold() in seen:
            raise CoachError(f"{where}: option {_quote(option)} is listed twice (options match ignoring case)")
        seen.add(option.casefold())
        options.append(option)
    return tuple(options)


def _required_line(data: dict, setting: str, where: str, example: str) -> str:
    value = data.get(setting)
    if not isinstance(value, str) or not value.strip():
        found = "nothing" if value is None else _show_value(value)
        raise CoachError(f"{where}: {setting} must be a non-empty string, e.g. {example}; found {found}")
    return check_text(value, f"{where}: {setting}").strip()


def _refuse_unknown_keys(data: dict, allowed: tuple[str, ...], where: str) -> None:
    for setting in data:
        if setting in allowed:
            continue
        hint = f"allowed: {', '.join(allowed)}"
        if isinstance(setting, str) and len(setting) <= _QUOTE_LIMIT:
            close = difflib.get_close_matches(setting, allowed, n=1)
            if close:
                hint = f"did you mean {close[0]}? ({hint})"
        raise CoachError(f"{where}: unknown setting {_show_value(setting)}; {hint}")


def _coerce_text(field: FormField, raw: object) -> str:
    if not isinstance(raw, str):
        raise CoachError(f"{field.key}: expected text, found {_show_value(raw)}; write it as a string")
    if _has_surrogates(raw):
        raise CoachError(f"{field.key}: the text is not valid Unicode; save the answers as UTF-8")
    return check_text(raw, field.key, lines=True)


def _coerce_rating(field: FormField, raw: object) -> int:
    value = _parse_number(field, raw)
    if isinstance(value, float) and not value.is_integer():
        raise CoachError(f"{field.key}: {_format_number(value)} is not a whole number; give a {field.describe()}")
    _check_range(field, value)
    return int(value)


def _coerce_number(field: FormField, raw: object) -> int | float:
    value = _parse_number(field, raw)
    _check_range(field, value)
    return value


def _parse_number(field: FormField, raw: object) -> int | float:
    """A finite number from text or JSON; whole values come back as int."""
    if isinstance(raw, str):
        text = raw.strip()
        if not _DECIMAL_PATTERN.fullmatch(text):
            raise CoachError(f"{field.key}: {_quote(raw)} is not a number; give a {field.describe()}")
        # float() first: it turns a huge literal into inf instead of int()'s digit-limit error.
        value: int | float = float(text)
        if _is_finite(value) and _INTEGER_PATTERN.fullmatch(text):
            value = int(text)
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = raw
    else:
        raise CoachError(f"{field.key}: {_show_value(raw)} is not a number; give a {field.describe()}")
    if not _is_finite(value):
        raise CoachError(f"{field.key}: {_show_value(raw)} is not a finite number; give a {field.describe()}")
    return _whole_as_int(value)


def _check_range(field: FormField, value: int | float) -> None:
    shown = _format_number(value)
    if field.min is not None and field.max is not None:
        if not field.min <= value <= field.max:
            raise CoachError(
                f"{field.key}: {shown} is out of range {_format_range(field.min, field.max)} ({field.type})"
            )
    elif field.min is not None and value < field.min:
        raise CoachError(f"{field.key}: {shown} is below the minimum {_format_number(field.min)} ({field.type})")
    elif field.max is not None and value > field.max:
        raise CoachError(f"{field.key}: {shown} is above the maximum {_format_number(field.max)} ({field.type})")


def _coerce_yesno(field: FormField, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    raise CoachError(f"{field.key}: {_show_value(raw)} is not yes or no; use yes/no, true/false, y/n or 1/0")


def _coerce_choice(field: FormField, raw: object) -> str:
    if isinstance(raw, str):
        wanted = raw.strip().casefold()
        for option in field.options:
            if option.casefold() == wanted:
                return option
    raise CoachError(f"{field.key}: {_show_value(raw)} is not {field.describe()}")


def _read_text(path: Path, source: str) -> str:
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise CoachError(f"{source}: no such file; check the path") from None
    except IsADirectoryError:
        raise CoachError(f"{source}: is a directory; give the path of a .toml or .json form file") from None
    except OSError as error:
        raise CoachError(f"{source}: cannot read the file ({_printable(str(error.strerror or error))})") from None
    try:
        # utf-8-sig: editors on Windows often save a byte-order mark, which json refuses.
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CoachError(f"{source}: byte {error.start} is not UTF-8; save the file as UTF-8") from None


def _decode_toml(text: str, source: str) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message already ends with "(at line L, column C)".
        raise CoachError(f"{source}: invalid TOML: {error}") from None
    except (ValueError, RecursionError):
        raise CoachError(f"{source}: invalid TOML: a value is too large or nested too deeply") from None


def _decode_json(text: str, source: str) -> object:
    try:
        return strict_json.loads(text)
    except json.JSONDecodeError as error:
        raise CoachError(f"{source}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except strict_json.RepeatedKey as repeated:
        raise CoachError(
            f"{source}: line {repeated.line}: key {_quote(repeated.key)} appears twice in one object; keep one"
        ) from None
    except (ValueError, RecursionError):
        raise CoachError(f"{source}: invalid JSON: a value is too large or nested too deeply") from None


def _is_finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _whole_as_int(value: int | float) -> int | float:
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INTEGER_LIMIT:
        return int(value)
    return value


def _format_number(value: int | float) -> str:
    return str(_whole_as_int(value))


def _format_range(lower: float | None, upper: float | None) -> str:
    if lower is not None and upper is not None:
        return f"{_format_number(lower)}–{_format_number(upper)}"
    if lower is not None:
        return f"≥ {_format_number(lower)}"
    if upper is not None:
        return f"≤ {_format_number(upper)}"
    return ""


def _has_surrogates(text: str) -> bool:
    return any(unicodedata.category(char) == "Cs" for char in text)


def _printable(text: str) -> str:
    """Escape what would break a one-line message or fail to print (line breaks, lone surrogates)."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def _quote(text: str) -> str:
    shown = text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…"
    return _printable(json.dumps(shown, ensure_ascii=False))


def _show_value(value: object) -> str:
    """A user's value as it would read in a JSON file, short and on one line."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if _is_finite(value):
            return _format_number(value)
        # repr() of an int past float range can exceed Python's digit limit and raise.
        return repr(value) if isinstance(value, float) else "a number too large"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"
