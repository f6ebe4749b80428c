"""Hot-path SQL without the ORM's per-call compilation: inserts and joined reads, written once.

For the few writes and reads that run thousands of times a second (a group join), compiling a
queryset or running `save()` costs more Python than the database spends on the statement. These
helpers keep the ORM's semantics and do the compiling once per model:

- `insert(obj)` inserts a model instance as `save(force_insert=True)` would store it: every
  concrete field but the auto primary key, each value through `pre_save(add=True)` (auto_now and
  auto_now_add fill in, on the instance too) and `get_db_prep_save` (JSON, dates, encrypted
  fields adapt as usual), the primary key read back with RETURNING. It sends no model signals:
  a caller whose model has receivers calls what they would have done itself.
  `conflict=("no",)` adds ON CONFLICT (no) DO NOTHING: it answers False instead of raising when
  the row collides on that unique key, without a savepoint.
- `insert_from(obj, source=..., taken=...)` gives the same INSERT as a part of a larger statement
  (PostgreSQL's data-modifying WITH): one row per row of `source`, some fields from there.
  A NULL value is written into the text rather than passed: psycopg caches the parsing of a
  statement of at most 50 parameters, and the group join's statement stays under it.
- `read_joined(sql, params, parts)` runs a hand-written SELECT whose columns are those of each
  part in turn (`columns(alias, part)` writes them: every concrete field of a model, or only the
  named ones, the rest deferred) and turns the row into model instances with the ORM's own
  converters, as select_related would; `link(obj, field, related)` attaches one to another as
  select_related does.

What save() and from_db do per field is kept, without the calls that cannot change the result: a
value of the Python type its Django field stores (text, booleans, integers, foreign keys to
integer keys, aware datetimes, NULL) goes straight to what get_db_prep_save would give, anything
else through get_db_prep_save; a row becomes an instance without __init__ when the model has
Django's own __init__ and from_db, the fields read have plain attributes and nobody listens to
pre_init/post_init (otherwise through from_db). tests/core/test_rawsql.py compares both with the ORM.

All work on PostgreSQL and SQLite (RETURNING and ON CONFLICT are in SQLite since 3.35), through
`cursor()`: on PostgreSQL a cursor that binds parameters on the server, so that psycopg prepares a
statement once it has run it a few times (`DB_PREPARE_THRESHOLD`, 5 by default) and PostgreSQL then
skips parsing it, and planning it too once it keeps a generic plan; the ORM's own cursors bind on
the client (Django's default). Behind a pooler in transaction mode (PgBouncer before 1.21) set
`DB_PREPARE_THRESHOLD=none`: the statements are then bound on the server but never prepared.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.db.models.fields.related import ForeignKey, OneToOneField
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init


def _db():
    """The default connection itself, not `django.db.connection`: that is a proxy which looks the
    connection up (an asgiref Local) on every attribute, and these helpers touch it per field."""
    return connections[DEFAULT_DB_ALIAS]


_inserts: dict[tuple, str] = {}  # the INSERT texts, by vendor, model and shape
_converters: dict[tuple, list] = {}  # per column, the ORM's converters, by vendor and parts


@contextmanager
def cursor() -> Iterator:
    """A cursor of the default connection for hot statements (see the module's note); it goes
    through Django's cursor wrapper, so query logging and execute wrappers see its statements."""
    db = _db()
    if db.vendor != "postgresql":
        with db.cursor() as plain:
            yield plain
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        wrapped = db._prepare_cursor(ServerBindingCursor(db.connection))
    with wrapped:
        yield wrapped


def _insert_plan(
    model: type[Model],
    conflict: tuple[str, ...],
    source: str | None,
    taken: tuple[tuple[str, str], ...],
    nulls: frozenset[str],
) -> str:
    """The INSERT text. With `source`, the row is inserted once per row `source` yields (INSERT ...
    SELECT ... FROM source), and the fields named in `taken` get their SQL expression there. The
    fields in `nulls` are written as NULL, every other one is a parameter: fewer parameters (psycopg
    caches the parsing of a statement of at most 50), and one text per pattern of NULLs."""
    connection = _db()
    key = (connection.vendor, model, conflict, source, taken, nulls)
    if key not in _inserts:
        meta = model._meta
        fields = _insert_fields(model)
        quote = connection.ops.quote_name
        expressions = dict(taken)
        # a SELECT list types nothing (a NULL or a parameter there would be text): cast each
        cast = (lambda f: f"::{f.cast_db_type(connection)}") if source else (lambda f: "")
        values = [
            expressions.get(f.attname, ("NULL" if f.attname in nulls else "%s") + cast(f)) for f in fields
        ]
        # Names come from the model and the caller's code, never from input; values are parameters.
        rows = f"SELECT {', '.join(values)} FROM {source}" if source else f"VALUES ({', '.join(values)})"  # noqa: S608
        sql = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) {rows}"
        if conflict:
            columns = ", ".join(quote(meta.get_field(name).column) for name in conflict)
            sql += f" ON CONFLICT ({columns}) DO NOTHING"
        sql += f" RETURNING {quote(meta.pk.column)}"
        _inserts[key] = sql
    return _inserts[key]


@functools.cache
def _insert_fields(model: type[Model]) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if not (f.primary_key and f.db_returning))


# Django's own field classes whose get_db_prep_save is, for a value of the Python type they store,
# the identity (text: any str, its enums included; booleans) or the backend's adaptation (integers
# of exactly int, a foreign key to an integer key, aware datetimes), and None for None. Any other
# class, a subclass included, and any other value take the full path.
_TEXT_FIELDS = frozenset({models.CharField, models.TextField})
_INTEGER_FIELDS = frozenset(
    {
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.PositiveSmallIntegerField,
    }
)
_AUTO_FIELDS = frozenset({models.AutoField, models.BigAutoField, models.SmallAutoField})
_DATE_FIELDS = frozenset({models.DateField, models.DateTimeField})


def _identity(value):
    return value


def _shortcut(field, connection):
    """(test, convert): for a value that passes `test`, `field.get_db_prep_save(value)` is
    `convert(value)`; None when the field has no shortcut."""
    cls = type(field)
    if cls in (ForeignKey, OneToOneField):
        field, cls = field.target_field, type(field.target_field)
    ops = connection.ops
    if cls in _TEXT_FIELDS:
        return (lambda value: isinstance(value, str)), _identity
    if cls is models.BooleanField:
        return (lambda value: type(value) is bool), _identity
    if cls in _AUTO_FIELDS:  # AutoFieldMixin validates and does not adapt
        return (lambda value: type(value) is int), ops.validate_autopk_value
    if cls in _INTEGER_FIELDS:
        internal = field.get_internal_type()
        return (lambda value: type(value) is int), (
            lambda value: ops.adapt_integerfield_value(value, internal)
        )
    if cls is models.DateTimeField:  # an aware datetime: no conversion, no naive-time warning
        return (
            lambda value: type(value) is datetime and value.tzinfo is not None
        ), ops.adapt_datetimefield_value
    return None


def _plain_pre_save(field) -> bool:
    """Whether pre_save(obj, add=True) only reads the attribute (a date without auto_now[_add])."""
    if type(field).pre_save is Field.pre_save:
        return True
    return type(field) in _DATE_FIELDS and not (field.auto_now or field.auto_now_add)


_preparers: dict[tuple, tuple] = {}


def _field_preparers(model: type[Model], connection) -> tuple:
    """Per inserted field: (field, attname, whether pre_save only reads it, shortcut)."""
    key = (connection.vendor, model)
    if key not in _preparers:
        _preparers[key] = tuple(
            (f, f.attname, _plain_pre_save(f), _shortcut(f, connection)) for f in _insert_fields(model)
        )
    return _preparers[key]


def _statement(
    obj: Model, conflict: tuple[str, ...], source: str | None, taken: dict[str, str]
) -> tuple[str, list]:
    connection = _db()
    params, nulls = [], set()
    for field, attname, plain, shortcut in _field_preparers(type(obj), connection):
        if attname in taken:
            continue
        # what save() does per field (pre_save, then get_db_prep_save) without the calls that
        # cannot change this field's value
        value = getattr(obj, attname) if plain else field.pre_save(obj, True)
        if shortcut is None:
            value = field.get_db_prep_save(value, connection)
        elif value is not None:
            value = shortcut[1](value) if shortcut[0](value) else field.get_db_prep_save(value, connection)
        if value is None:
            nulls.add(attname)
        else:
            params.append(value)
    return _insert_plan(type(obj), conflict, source, tuple(sorted(taken.items())), frozenset(nulls)), params


def insert(obj: Model, *, conflict: tuple[str, ...] = ()) -> bool:
    """INSERT `obj` (see the module's note) and set its pk; False when `conflict` skipped it."""
    sql, params = _statement(obj, conflict, None, {})
    with cursor() as hot:
        hot.execute(sql, params)
        row = hot.fetchone()
    if row is None:
        return False
    stored(obj, row[0])
    return True


def insert_from(
    obj: Model, *, source: str, taken: dict[str, str] | None = None, conflict: tuple[str, ...] = ()
) -> tuple[str, list]:
    """The INSERT of `obj` as part of a larger statement (PostgreSQL: a data-modifying WITH):
    one row for each row `source` yields, the fields in `taken` (attname -> SQL expression, e.g.
    {"order_id": "new_order.id"}) from there; values as `insert` prepares them. Returns the text
    (RETURNING the primary key) and its parameters; the caller runs it and calls `stored`."""
    return _statement(obj, conflict, source, taken or {})


def stored(obj: Model, pk) -> None:
    """Mark `obj` as the row with primary key `pk` (what save() does after its INSERT)."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS


Part = type[Model] | tuple[type[Model], tuple[str, ...]]  # a model, or a model and the fields read


@functools.cache
def _fields(part: Part) -> tuple:
    """The concrete fields a part reads, in _meta order: every one, or those named (pk always)."""
    model, only = part if isinstance(part, tuple) else (part, None)
    fields = model._meta.concrete_fields
    if only is None:
        return tuple(fields)
    return tuple(f for f in fields if f.primary_key or f.name in only or f.attname in only)


def _model(part: Part) -> type[Model]:
    return part[0] if isinstance(part, tuple) else part


def columns(alias: str, part: Part) -> str:
    """The SELECT list of a part under `alias`: every concrete field of the model in _meta order,
    or only those named (a hot read that needs a few columns of a wide row; the others are
    deferred on the instance, and reading one costs a query)."""
    return ", ".join(f'{alias}."{field.column}"' for field in _fields(part))


def _row_converters(parts: tuple[Part, ...]) -> list:
    connection = _db()
    key = (connection.vendor, parts)
    if key not in _converters:
        per_column = []
        for part in parts:
            table = _model(part)._meta.db_table
            for field in _fields(part):
                column = field.get_col(table)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                per_column.append([(converter, column) for converter in found])
        _converters[key] = per_column
    return _converters[key]


def instances(row: Sequence, parts: tuple[Part, ...]) -> list[Model | None]:
    """The model instances in `row` (the columns of each part, in turn); None for a part whose
    primary key is NULL (an outer join that found nothing)."""
    connection = _db()
    converters = _row_converters(parts)
    found, start = [], 0
    for part in parts:
        fields = _fields(part)
        end = start + len(fields)
        chunk = list(row[start:end])
        if chunk[_pk_index(part)] is None:
            found.append(None)
        else:
            for index, value in enumerate(chunk):
                for converter, column in converters[start + index]:
                    value = converter(value, column, connection)
                chunk[index] = value
            found.append(_from_db(part, chunk))
        start = end
    return found


def _from_db(part: Part, values: list) -> Model:
    """`Model.from_db` for the part's fields. For a part that `_plain_part` allows, of a model
    nobody listens to pre_init/post_init for, the instance is built as from_db would leave it
    (state not adding, this database; the fields read in its __dict__, the others deferred)
    without calling __init__, which costs more than the join's reads for five models."""
    model = _model(part)
    if not _plain_part(part) or pre_init.has_listeners(model) or post_init.has_listeners(model):
        names = None if isinstance(part, type) else [f.attname for f in _fields(part)]
        return model.from_db(DEFAULT_DB_ALIAS, names, values)
    obj = model.__new__(model)
    state = obj._state = ModelState()
    state.adding = False
    state.db = DEFAULT_DB_ALIAS
    obj.__dict__.update(zip(_attnames(part), values, strict=True))
    return obj


@functools.cache
def _attnames(part: Part) -> tuple[str, ...]:
    return tuple(f.attname for f in _fields(part))


@functools.cache
def _plain_part(part: Part) -> bool:
    """Whether __init__ with the part's values would only store them: Django's own __init__ and
    from_db, and the attribute of every field read a plain deferred attribute (or a foreign
    key's, whose setter only drops a cached object a new instance does not have). The fields not
    read are deferred: __init__ skips them, so their attributes do not matter."""
    model = _model(part)
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:
        return False
    return all(type(getattr(model, f.attname, None)) in _PLAIN_DESCRIPTORS for f in _fields(part))


def link(obj: Model, field_name: str, related: Model | None) -> None:
    """Attach `related` (read in the same row) as `obj.<field_name>`, as select_related does: the
    forward cache, and the reverse one for a one-to-one; no query, no checks on assignment."""
    field = obj._meta.get_field(field_name)
    field.set_cached_value(obj, related)
    if related is not None and field.unique:
        field.remote_field.set_cached_value(related, obj)


_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


@functools.cache
def _pk_index(part: Part) -> int:
    return next(i for i, f in enumerate(_fields(part)) if f.primary_key)


def read_joined(sql: str, params: Sequence, parts: tuple[Part, ...]) -> tuple[list, tuple] | None:
    """The first row of `sql` as (model instances, the values after the parts' columns); None if
    no row."""
    with cursor() as hot:
        hot.execute(sql, params)
        row = hot.fetchone()
    if row is None:
        return None
    width = sum(len(_fields(part)) for part in parts)
    return instances(row[:width], parts), tuple(row[width:])
