"""apps.core.pgtimestamps: timestamptz parsed in C, exactly as Django's loader parses it."""

import pytest
from django.db import connection
from psycopg.pq import Format

from apps.core import pgtimestamps

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _loaders():
    connection.ensure_connection()
    adapters = connection.connection.adapters
    oid = adapters.types["timestamptz"].oid
    fast = adapters.get_loader(oid, Format.TEXT)
    django = fast.__mro__[1]  # the loader Django registered, which the fast one extends
    return fast(oid, connection.connection), django(oid, connection.connection)


def _outcome(loader, text: bytes):
    try:
        value = loader.load(text)
    except Exception as exc:  # both must refuse alike
        return type(exc).__name__
    return value, value.tzinfo


def test_every_new_connection_loads_timestamptz_with_the_fast_loader_and_cursors_keep_it():
    fast, _django = _loaders()
    with connection.cursor() as cursor:
        tz_loader = cursor.cursor.adapters.get_loader(fast.oid, Format.TEXT)

    assert (type(fast).fast, tz_loader is type(fast)) == (True, True)
    assert type(fast) is pgtimestamps.fast_loader(type(fast).__mro__[1])


@pytest.mark.parametrize(
    "text",
    [
        b"2026-12-02 08:00:00+00",
        b"2026-12-02 08:00:00.5+00",
        b"2026-12-02 08:00:00.123456+00",
        b"0099-01-01 00:00:00+00",
        b"2026-12-02 16:00:00+08",  # another offset: Django's own parsing
        b"2026-12-02 08:00:00+00 BC",  # before year 1: refused by both
        b"infinity",
    ],
)
def test_the_fast_loader_gives_what_djangos_gives_value_and_zone(text):
    fast, django = _loaders()

    assert _outcome(fast, text) == _outcome(django, text)


def test_a_value_read_from_postgresql_is_the_one_the_orm_always_read():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2026-12-02 08:00:00.25+00'::timestamptz, '2026-12-02 16:00:00.25+08'::timestamptz"
        )
        first, second = cursor.fetchone()

    assert first == second
    assert (first.isoformat(), first.tzinfo is second.tzinfo) == ("2026-12-02T08:00:00.250000+00:00", True)
