"""The outbox: one event per key, each subscriber gets it exactly once, crashes are redelivered."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core import events
from apps.core.models import EventDelivery, OutboxEvent

received: list[tuple[str, dict]] = []


@pytest.fixture(autouse=True)
def _test_subscribers():
    received.clear()
    saved = {k: dict(v) for k, v in events._subscribers.items()}

    @events.subscribe("test_happened")
    def record(payload):
        received.append(("record", payload))

    yield
    events._subscribers.clear()
    events._subscribers.update(saved)


@pytest.mark.django_db(transaction=True)
def test_publish_dispatches_after_commit_exactly_once(celery_eager):
    with transaction.atomic():
        event = events.publish("test_happened", {"n": 1}, key="k1")
        assert received == []  # nothing before commit

    assert received == [("record", {"n": 1})]
    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert events.dispatch(event.pk) is True
    assert received == [("record", {"n": 1})]


@pytest.mark.django_db(transaction=True)
def test_the_same_key_publishes_once(celery_eager):
    with transaction.atomic():
        first = events.publish("test_happened", {"n": 1}, key="same")
        second = events.publish("test_happened", {"n": 2}, key="same")

    assert first.pk == second.pk
    assert OutboxEvent.objects.count() == 1
    assert received == [("record", {"n": 1})]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_publishes_nothing(celery_eager):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish("test_happened", {"n": 1}, key="gone")
        raise RuntimeError("boom")

    assert OutboxEvent.objects.count() == 0
    assert received == []


@pytest.mark.django_db(transaction=True)
def test_a_crash_before_dispatch_is_redelivered_by_the_sweep():
    # given: committed, but the worker never ran the dispatch task (not eager: it just sits queued)
    with transaction.atomic():
        event = events.publish("test_happened", {"n": 7}, key="crash")
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    # when
    count = events.redeliver()
    again = events.redeliver()

    # then
    assert (count, again) == (1, 0)
    assert received == [("record", {"n": 7})]


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_is_retried_without_repeating_the_others():
    calls = {"flaky": 0}

    @events.subscribe("test_happened")
    def flaky(payload):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ValueError("first time fails")
        received.append(("flaky", payload))

    with transaction.atomic():
        event = events.publish("test_happened", {"n": 3}, key="flaky")

    assert events.dispatch(event.pk) is False
    event.refresh_from_db()
    assert event.dispatched_at is None
    assert "first time fails" in event.last_error
    assert events.dispatch(event.pk) is True
    assert received == [("record", {"n": 3}), ("flaky", {"n": 3})]
    assert EventDelivery.objects.filter(event=event).count() == 2
