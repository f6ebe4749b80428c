"""Visits to share links: counted once per viewer per (local) day, without a database write per request.

A visit is first checked against the shared cache: a viewer already seen on that link that day is a
repeat, answered from the cache alone (no statement reaches PostgreSQL). A first visit:

- with Redis (production): one atomic Lua call marks the viewer seen (SET NX) and, only if it was not
  seen, appends the visit to a buffer list; `visits_flush` (Celery beat, every
  SHARING_VISITS_FLUSH_SECONDS) moves the buffer to the database in batches;
- without Redis (the development file cache): the visit row is written at once, as before, and the
  viewer is marked seen after commit.

The counts stay exact because the database still decides: a ShareVisit row is unique per (link,
viewer, day), the flush inserts with ON CONFLICT DO NOTHING RETURNING, and a link's counter grows by
the rows actually inserted. So a viewer whose mark was evicted from the cache, a batch flushed twice
(a crash between the commit and the trim of the buffer), or two flushers, never count twice; and
nothing is taken off the buffer before the transaction that wrote it has committed. The one lag:
`visits` shows a first visit after the next flush.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone

from ..models import ShareLink, ShareVisit

BUFFER = "sharing:visits:buffer"
SEEN_SECONDS = 2 * 24 * 3600  # a (link, viewer, day) mark outlives its day
FLUSH_LOCK = 0x5A17_0001  # PostgreSQL advisory lock id: one flusher at a time

# KEYS[1] the viewer's mark, KEYS[2] the buffer; ARGV[1] the mark's lifetime, ARGV[2] the visit.
_MARK_AND_BUFFER = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('RPUSH', KEYS[2], ARGV[2])
    return 1
end
return 0
"""


def _redis():
    """The raw Redis client behind the default cache, or None when the cache is not Redis."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    default = caches["default"]  # `cache` itself is a proxy to it
    if not isinstance(default, RedisCache):
        return None
    return default._cache.get_client(write=True)


def seen_key(code: str, visitor_key: str, day) -> str:
    """The cache key (Django's) of a viewer's mark on a link for a day. By the link's code, never its
    id: ids come back after a test database's rollback, codes do not; and the share-link answer
    reads the mark with the answer itself, before it knows the link's id."""
    return f"sharing:seen:{code}:{visitor_key[:40]}:{day.isoformat()}"


def _seen_key(link: ShareLink, visitor_key: str, day) -> str:
    """The same mark's key in Redis itself (the Lua script's)."""
    return cache.make_key(seen_key(link.code, visitor_key, day))


def visit_record(
    *, link: ShareLink, visitor_key: str, user=None, channel: str = "api", now: datetime | None = None
) -> bool:
    """Count one visit per viewer per (local) day: True when this one is new (it will count).

    A repeat answers False from the cache alone. With Redis, a new visit reaches the database with
    the next flush; without, at once.
    """
    now = now or timezone.now()
    day = timezone.localdate(now)
    visitor_key = visitor_key[:40]
    user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    client = _redis()
    if client is not None:
        visit = json.dumps([link.pk, visitor_key, day.isoformat(), user_id, channel, now.isoformat()])
        key = _seen_key(link, visitor_key, day)
        return bool(client.eval(_MARK_AND_BUFFER, 2, key, cache.make_key(BUFFER), SEEN_SECONDS, visit))
    key = seen_key(link.code, visitor_key, day)
    if cache.get(key):
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                ShareVisit.objects.create(
                    link=link, visitor_key=visitor_key, day=day, user_id=user_id, channel=channel
                )
        except IntegrityError:
            counted = False
        else:
            ShareLink.objects.filter(pk=link.pk).update(visits=F("visits") + 1)
            counted = True
        transaction.on_commit(lambda: cache.set(key, 1, SEEN_SECONDS))
    return counted


@contextmanager
def _one_flusher():
    """A session-level advisory lock on PostgreSQL, held over the commit AND the buffer's trim, so
    no second flusher reads a batch that the first has written but not yet trimmed."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [FLUSH_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [FLUSH_LOCK])


def visits_flush(*, batch_size: int | None = None) -> int:
    """Move buffered visits to the database, a batch per transaction; the number of visits counted.

    Safe to run twice or concurrently (see the module docstring). Without Redis there is no buffer.
    """
    client = _redis()
    if client is None:
        return 0
    batch_size = batch_size or settings.SHARING_VISITS_FLUSH_BATCH
    buffer = cache.make_key(BUFFER)
    counted = 0
    with _one_flusher():
        while True:
            raw = client.lrange(buffer, 0, batch_size - 1)
            if not raw:
                break
            counted += _write_batch([json.loads(item) for item in raw])
            client.ltrim(buffer, len(raw), -1)  # only after the batch's commit
    return counted


@transaction.atomic
def _write_batch(visits: list[list]) -> int:
    from django.contrib.auth import get_user_model

    link_ids = set(ShareLink.objects.filter(pk__in={v[0] for v in visits}).values_list("pk", flat=True))
    user_ids = {v[3] for v in visits if v[3] is not None}
    users = (
        set(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True))
        if user_ids
        else set()
    )
    rows = [
        ShareVisit(
            link_id=link_id,
            visitor_key=visitor_key,
            day=datetime.fromisoformat(day).date(),
            user_id=user_id if user_id in users else None,
            channel=channel,
            created_at=datetime.fromisoformat(at),
        )
        for link_id, visitor_key, day, user_id, channel, at in visits
        if link_id in link_ids  # a link deleted since: its visits go with it
    ]
    if not rows:
        return 0
    query = InsertQuery(ShareVisit, on_conflict=OnConflict.IGNORE)
    query.insert_values([f for f in ShareVisit._meta.concrete_fields if not f.primary_key], rows, raw=True)
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {connection.ops.quote_name('link_id')}", params)
        inserted = Counter(row[0] for row in cursor.fetchall())
    for link_id, count in sorted(inserted.items()):  # pk order: the links' lock order
        ShareLink.objects.filter(pk=link_id).update(visits=F("visits") + count)
    return sum(inserted.values())
