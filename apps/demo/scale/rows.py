"""Inserting many rows fast: PostgreSQL's COPY, or bulk_create elsewhere.

Rows are dicts of field attnames (`order_id`, not `order`); a field left out takes its model
default, as a model instance would. The rows are written as given - auto_now fields included - so
each carries the moment it describes.
"""

from __future__ import annotations

import json

from django.db import connection
from django.db.models import JSONField

from .clock import explicit_times


def _columns(model, given: set[str]):
    pk = model._meta.pk
    return [f for f in model._meta.concrete_fields if not (f is pk and f.attname not in given)]


def insert(model, rows: list[dict]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        with explicit_times(model):
            model.objects.bulk_create([model(**row) for row in rows])
        return
    fields = _columns(model, set(rows[0]))
    defaults = {}
    for f in fields:
        if f.attname not in rows[0]:
            defaults[f.attname] = f.get_default()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    names = [f.attname for f in fields]
    jsons = {f.attname for f in fields if isinstance(f, JSONField)}
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for name in names:
                value = row[name] if name in row else defaults[name]
                if name in jsons and value is not None:
                    value = json.dumps(value, ensure_ascii=False)
                values.append(value)
            copy.write_row(values)


def analyze(*models) -> None:
    """Fresh planner statistics for tables just filled (PostgreSQL): autovacuum would get there
    later, and until then a million-row table is planned as an empty one."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
