"""Share-link visits without a database write per request: repeats answered by the cache, first visits
buffered in Redis and flushed in batches, the counts exact whatever the cache forgets or a flush repeats."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.sharing.models import ShareLink, ShareVisit
from apps.sharing.services import visits
from apps.sharing.services.visits import visit_record, visits_flush
from tests.accounts.factories import UserFactory
from tests.sharing.factories import make_koc_user, make_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(settings):
    """The production cache (Redis) instead of the tests' local-memory one, on our Redis database."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL=redis://... (CI's second pass does)")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": settings.REDIS_URL}
    }
    cache.clear()
    assert visits._redis() is not None
    yield
    cache.clear()


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_a_repeat_visit_writes_nothing_to_the_database(backend, request, django_capture_on_commit_callbacks):
    if backend == "redis":
        request.getfixturevalue("redis_cache")
    # given: a first visit (counted)
    link = make_link(sharer=make_koc_user())
    with django_capture_on_commit_callbacks(execute=True):
        assert visit_record(link=link, visitor_key="a-phone") is True

    # when: the same viewer again, the same day
    with CaptureQueriesContext(connection) as queries:
        again = visit_record(link=link, visitor_key="a-phone")

    # then: answered from the cache; not a single statement reached the database
    assert again is False
    assert queries.captured_queries == []
    visits_flush()
    link.refresh_from_db()
    assert (link.visits, ShareVisit.objects.filter(link=link).count()) == (1, 1)


def test_first_visits_are_buffered_then_flushed_with_exact_counts(redis_cache):
    # given: two links; five viewers open the first three times each, two open the second
    first, second = make_link(sharer=make_koc_user()), make_link(sharer=make_koc_user())
    user = UserFactory()
    viewers = ["a1", "a2", "a3", "a4", f"u{user.pk}"]
    with CaptureQueriesContext(connection) as queries:
        new = [
            visit_record(link=first, visitor_key=v, user=user if v.startswith("u") else None)
            for _ in range(3)
            for v in viewers
        ]
        new += [visit_record(link=second, visitor_key=v) for v in ("a1", "a2", "a1")]

    # then: no request wrote to the database; the new visits wait in the buffer
    assert queries.captured_queries == []
    assert new.count(True) == 7
    assert ShareLink.objects.get(pk=first.pk).visits == 0

    # when: the cache forgets a viewer (eviction) who comes back, and a flush dies after writing a
    # batch but before trimming it from the buffer (so the batch is written again)
    client = visits._redis()
    client.delete(visits._seen_key(first, "a1", timezone.localdate()))
    assert visit_record(link=first, visitor_key="a1") is True  # buffered again: the database decides
    buffered = [visits.json.loads(v) for v in client.lrange(cache.make_key(visits.BUFFER), 0, -1)]
    assert len(buffered) == 8
    assert visits._write_batch(buffered[:3]) == 3

    counted = visits_flush(batch_size=3)

    # then: each viewer counts once per link and day, exactly
    assert counted == 4
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.visits, second.visits) == (5, 2)
    assert ShareVisit.objects.filter(link=first).count() == 5
    assert ShareVisit.objects.get(link=first, visitor_key=f"u{user.pk}").user_id == user.pk
    assert client.llen(cache.make_key(visits.BUFFER)) == 0
    assert visits_flush() == 0
    first.refresh_from_db()
    assert first.visits == 5


def test_visits_of_a_link_deleted_before_the_flush_are_dropped(redis_cache):
    link = make_link(sharer=make_koc_user())
    visit_record(link=link, visitor_key="a1")
    ShareLink.objects.filter(pk=link.pk).delete()

    assert visits_flush() == 0
    assert not ShareVisit.objects.exists()


def test_resolving_a_code_again_reads_only(api_client, django_capture_on_commit_callbacks):
    # given: an anonymous viewer resolved the code once
    link = make_link(sharer=make_koc_user())
    url = f"/api/v1/share-links/{link.code}"
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT="iPhone").status_code == 200

    # when: the same viewer again
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT="iPhone")

    # then: the answer is read; nothing is written
    assert response.status_code == 200
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements and set(statements) <= {"SELECT", "SAVEPOINT", "RELEASE"}, statements
    link.refresh_from_db()
    assert link.visits == 1
