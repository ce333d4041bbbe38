"""Fixed SQL for the till's hot path, building ordinary model instances from the rows.

An ORM query costs 0.6-0.9 ms of Python on a small server, the same SQL through the cursor under
0.1 ms (bench/README.md); a scan and a purchase run a dozen statements, so the statements on that
path are written out once here and in the apps, and everything else keeps using the ORM.
"""

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


@cache
def _fields(model: type[models.Model]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    fields = model._meta.concrete_fields
    return tuple(str(f.column) for f in fields), tuple(f.attname for f in fields)


def select_columns(model: type[models.Model], alias: str) -> str:
    """`alias."col", …` for every concrete field of the model, in `instance()`'s order."""
    columns, _attnames = _fields(model)
    return ", ".join(f'{alias}."{column}"' for column in columns)


def column_count(model: type[models.Model]) -> int:
    return len(_fields(model)[0])


@cache
def _converters(model: type[models.Model], vendor: str) -> tuple[tuple[int, Any, tuple[Any, ...]], ...]:
    # The ORM's own conversions from database values (SQLite's 0/1 booleans and text datetimes).
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        converters = tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        if converters:
            found.append((index, col, converters))
    return tuple(found)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from a row of `select_columns(model, …)`, as the ORM would build it."""
    _columns, attnames = _fields(model)
    converted = list(values)
    for index, col, converters in _converters(model, connection.vendor):
        for converter in converters:
            converted[index] = converter(converted[index], col, connection)
    return model.from_db(connection.alias, list(attnames), converted)


def adapt_datetime(value: Any) -> Any:
    return connection.ops.adapt_datetimefield_value(value)
