"""What a command prints: a record is a frozen dataclass whose fields are its
keys (JSON, CSV and TSV, in declaration order) and whose table columns are
declared on the same fields, once. The services build records; the output
layer reads their fields. A renamed field is then a type error, never a
silently blank column.

Nothing here imports the database layer or Rich, so it costs no start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol, TypeVar

_HEADER = "header"
_LISTED = "listed"
_KEY = "key"


def column(
    header: str | None, *, listed: bool = True, key: str | None = None, default: Any = dataclasses.MISSING
) -> Any:
    """A record's field with its table header. `listed=False`: shown when the
    record is shown alone, not as a column of a list's table. `header=None`:
    for scripts only (JSON, CSV, TSV), never in a table. `key`: the record's
    key when it cannot be the field's name (a Python keyword, e.g. "from")."""
    return dataclasses.field(default=default, metadata={_HEADER: header, _LISTED: listed, _KEY: key})


class Record(Protocol):
    """Any record dataclass (the output layer's view of one)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


class _Withheld:
    """A value the viewer may not see: its key is left out of the record's
    JSON (as if it did not exist), and its cell is empty in a table. There
    is one, WITHHELD, compared by identity."""

    def __repr__(self) -> str:
        return "WITHHELD"


WITHHELD: Any = _Withheld()


def keys(record_type: type) -> list[str]:
    """Every key of a record of this type, in order: a CSV header."""
    return [_key(field) for field in _fields(record_type)]


def list_columns(record_type: type) -> list[tuple[str, str]]:
    """(key, header) of the columns of a list's table."""
    return [
        (_key(field), field.metadata[_HEADER])
        for field in _fields(record_type)
        if field.metadata.get(_HEADER) and field.metadata.get(_LISTED, True)
    ]


def detail_columns(record_type: type) -> list[tuple[str, str]]:
    """(key, header) of the lines of one record shown alone."""
    return [(_key(field), field.metadata[_HEADER]) for field in _fields(record_type) if field.metadata.get(_HEADER)]


def as_dict(record: Any) -> dict[str, Any]:
    """The record's keys and values (nested records and lists of them as
    dicts too), leaving out what the viewer may not see."""
    return {
        key: plain_value(value)
        for key, value in ((key, getattr(record, name)) for key, name in _names(type(record)))
        if value is not WITHHELD
    }


Shown = TypeVar("Shown", bound=Record)
Extended = TypeVar("Extended")


def extended(record: Any, record_type: type[Extended], **more: Any) -> Extended:
    """The record as one of a type that adds fields to its own (a subclass
    of its type): its values, and the added fields' in `more`."""
    return record_type(**{field.name: getattr(record, field.name) for field in _fields(type(record))}, **more)


def shown(record: Shown, **cells: Any) -> Shown:
    """A copy of the record as a person reads it in a table: the cells named
    given as text (a metric's name, a value in its unit). For a terminal
    only, as its values need not have their declared types; a name that is
    no field of the record is refused (TypeError), as a renamed field must be."""
    return dataclasses.replace(record, **cells)


def is_record(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def plain_value(value: Any) -> Any:
    """A value as JSON takes it: a record (or a list of them) as dicts."""
    if is_record(value):
        return as_dict(value)
    if isinstance(value, list | tuple) and value and is_record(value[0]):
        return [as_dict(item) for item in value]
    return value


_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}


def _names(record_type: type) -> tuple[tuple[str, str], ...]:
    """(key, field name) of every field, in order."""
    # Looked up once a type: a list of millions of records converts each
    # with one dict comprehension, not a walk of dataclasses.fields().
    names = _NAMES.get(record_type)
    if names is None:
        names = _NAMES[record_type] = tuple((_key(field), field.name) for field in _fields(record_type))
    return names


def _key(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get(_KEY) or field.name


def _fields(record_type: type) -> Iterator[dataclasses.Field[Any]]:
    if not dataclasses.is_dataclass(record_type):
        raise TypeError(f"{record_type.__name__} is not a record dataclass")
    return iter(dataclasses.fields(record_type))
