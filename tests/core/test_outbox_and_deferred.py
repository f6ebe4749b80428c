"""The outbox's backoff and dead letter, and tasks sent after commit (issue 13's reproductions)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.core import events
from apps.core.models import OutboxEvent
from apps.core.tasks import dispatch_event
from apps.groupbuys.tasks import expire_group
from apps.shop.models import Order
from apps.shop.tasks import cancel_unpaid_order
from tests.shop.factories import make_order


@pytest.fixture
def poisoned_and_healthy():
    """Register a subscriber that always fails on `poison`, and one that records `fine` events."""
    seen = []

    @events.subscribe("test_poison")
    def always_fails(payload):
        raise RuntimeError("cannot handle this one")

    @events.subscribe("test_fine")
    def records(payload):
        seen.append(payload["n"])

    yield seen
    events._subscribers.pop("test_poison", None)
    events._subscribers.pop("test_fine", None)


def backdate(*event_ids, seconds=60):
    long_ago = timezone.now() - timedelta(seconds=seconds)
    OutboxEvent.objects.filter(pk__in=event_ids).update(created_at=long_ago)


@pytest.mark.django_db
def test_a_poisoned_event_backs_off_and_never_starves_newer_events(poisoned_and_healthy):
    # given: 500 old events that always fail, then one healthy event
    poisoned = [events.publish("test_poison", {}, key=f"poison:{i}").pk for i in range(500)]
    healthy = events.publish("test_fine", {"n": 1}, key="fine:1").pk
    backdate(*poisoned, healthy)

    # when: the sweep runs twice
    first = events.redeliver()
    second = events.redeliver()

    # then: the first sweep tried the 500 poisoned events once; they now wait out their backoff,
    # so the second sweep reaches the healthy one
    assert (first, second) == (500, 1)
    assert poisoned_and_healthy == [1]
    assert OutboxEvent.objects.get(pk=healthy).dispatched_at is not None
    event = OutboxEvent.objects.get(pk=poisoned[0])
    assert event.attempts == 1
    assert timezone.now() < event.next_attempt_at <= timezone.now() + timedelta(seconds=30)


@pytest.mark.django_db
def test_an_event_failing_every_attempt_becomes_a_dead_letter_an_operator_redelivers(
    poisoned_and_healthy, admin_client
):
    event_id = events.publish("test_poison", {}, key="poison:dead").pk
    backdate(event_id)
    later = timezone.now()
    for _ in range(events.MAX_ATTEMPTS):
        later += timedelta(hours=2)
        events.redeliver(now=later)
    dead = OutboxEvent.objects.get(pk=event_id)

    assert (dead.attempts, dead.dispatched_at) == (events.MAX_ATTEMPTS, None)
    assert dead.dead_at is not None
    assert events.redeliver(now=later + timedelta(days=1)) == 0  # nobody retries a dead letter
    listed = admin_client.get("/admin/core/outboxevent/", {"dead": "yes"})
    assert "poison:dead" in listed.content.decode()

    # the subscriber is fixed; the operator redelivers from the admin
    events._subscribers["test_poison"] = {"fixed": lambda payload: None}
    response = admin_client.post(
        "/admin/core/outboxevent/", {"action": "redeliver", "_selected_action": [event_id]}
    )
    assert response.status_code == 302
    revived = OutboxEvent.objects.get(pk=event_id)
    assert (revived.dead_at, revived.attempts) == (None, 1)
    assert revived.dispatched_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_committed_order_is_answered_even_when_the_broker_is_down(monkeypatch, shopper):
    # given: the broker refuses every send
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused")

    monkeypatch.setattr(cancel_unpaid_order, "apply_async", refuse)
    monkeypatch.setattr(dispatch_event, "apply_async", refuse)

    # when: an order is created (its timeout task is sent after commit)
    order = make_order(buyer=shopper)

    # then: no exception reached the caller; the order exists; the sweepers own the rest
    assert Order.objects.filter(pk=order.pk, status="pending_payment").exists()


@pytest.mark.django_db(transaction=True)
def test_no_task_is_queued_beyond_the_visibility_timeout(monkeypatch, settings):
    from apps.core.deferred import send

    sent = []
    monkeypatch.setattr(expire_group, "apply_async", lambda args, **kw: sent.append((args, kw)))
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

    queued_soon = send(expire_group, 1, eta=timezone.now() + timedelta(minutes=30))
    queued_late = send(expire_group, 2, eta=timezone.now() + timedelta(hours=24))

    assert (queued_soon, queued_late) == (True, False)
    assert [args for args, _ in sent] == [(1,)]
    assert set(sent[0][1]) == {"eta"}
