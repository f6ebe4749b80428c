"""Who gets the customer (绑定关系): first touch, last touch, protection and validity periods."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apps.core import events
from apps.kocs import services as koc_services
from apps.sharing import binding_rules, services
from apps.sharing.binding_rules import BIND, FIRST_TOUCH, KEEP, LAST_TOUCH, RENEW, SWITCH, Current, Policy
from apps.sharing.models import BindingChange, CustomerBinding
from apps.sharing.targets import TargetInfo
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client
from tests.sharing.factories import make_koc_user, make_link, make_product, set_policy

T0 = timezone.make_aware(datetime(2026, 3, 1, 10, 0))
DAY = timedelta(days=1)
A, B = 1, 2


def current(koc_id=A, *, bound=-3, touched=None, validity=30, protection=7, approved=True) -> Current:
    """A binding won `bound` days from T0 (negative: before), last touched `touched` days from T0."""
    bound_at = T0 + bound * DAY
    touched_at = T0 + (bound if touched is None else touched) * DAY
    return Current(
        koc_id=koc_id,
        bound_at=bound_at,
        touched_at=touched_at,
        expires_at=touched_at + validity * DAY,
        protected_until=bound_at + protection * DAY,
        koc_approved=approved,
    )


# (mode, protection days, current binding, KOC whose link is opened, expected action, expected holder)
DECISIONS = [
    ("first touch: nobody yet", FIRST_TOUCH, 7, None, A, BIND, A),
    ("last touch: nobody yet", LAST_TOUCH, 7, None, A, BIND, A),
    ("first touch: the first KOC keeps the customer", FIRST_TOUCH, 7, current(bound=-3), B, KEEP, A),
    ("first touch: even after the protection period", FIRST_TOUCH, 7, current(bound=-20), B, KEEP, A),
    ("first touch: held until the last hour", FIRST_TOUCH, 7, current(bound=-29.95), B, KEEP, A),
    ("first touch: an expired binding is free", FIRST_TOUCH, 7, current(bound=-30), B, BIND, B),
    ("last touch: protected, no 抢客", LAST_TOUCH, 7, current(bound=-3), B, KEEP, A),
    (
        "last touch: after the protection period the new KOC takes",
        LAST_TOUCH,
        7,
        current(bound=-8),
        B,
        SWITCH,
        B,
    ),
    ("last touch: protected until the last hour", LAST_TOUCH, 7, current(bound=-6.95), B, KEEP, A),
    ("last touch: protection ends exactly now", LAST_TOUCH, 7, current(bound=-7), B, SWITCH, B),
    ("last touch: no protection period", LAST_TOUCH, 0, current(bound=0, protection=0), B, SWITCH, B),
    ("last touch: an expired binding is free", LAST_TOUCH, 7, current(bound=-30), B, BIND, B),
    ("first touch: a suspended KOC holds nobody", FIRST_TOUCH, 7, current(approved=False), B, BIND, B),
    (
        "last touch: a suspended KOC holds nobody",
        LAST_TOUCH,
        7,
        current(bound=-1, approved=False),
        B,
        BIND,
        B,
    ),
    ("same KOC on a later day: renewed", FIRST_TOUCH, 7, current(bound=-3), A, RENEW, A),
    ("same KOC, last touch: renewed", LAST_TOUCH, 7, current(bound=-3), A, RENEW, A),
    ("same KOC the same day: nothing to record", LAST_TOUCH, 7, current(bound=0), A, KEEP, A),
]


@pytest.mark.parametrize(
    ("mode", "protection", "now_current", "opener", "action", "holder"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_who_gets_the_customer(mode, protection, now_current, opener, action, holder):
    # when
    decision = binding_rules.decide(
        current=now_current,
        koc_id=opener,
        policy=Policy(mode=mode, validity_days=30, protection_days=protection),
        now=T0,
    )

    # then
    assert (decision.action, decision.koc_id) == (action, holder)


def test_a_new_binding_runs_validity_and_protection_from_now():
    decision = binding_rules.decide(
        current=None, koc_id=A, policy=Policy(LAST_TOUCH, validity_days=15, protection_days=3), now=T0
    )

    assert (decision.bound_at, decision.expires_at, decision.protected_until) == (
        T0,
        T0 + 15 * DAY,
        T0 + 3 * DAY,
    )


def test_a_renewal_extends_validity_but_not_protection():
    # given: won 3 days ago, protected 7 days from then
    was = current(bound=-3)

    # when
    decision = binding_rules.decide(
        current=was, koc_id=A, policy=Policy(LAST_TOUCH, validity_days=30, protection_days=7), now=T0
    )

    # then
    assert decision.action == RENEW
    assert decision.expires_at == T0 + 30 * DAY
    assert decision.protected_until == was.protected_until == T0 + 4 * DAY
    assert decision.bound_at == was.bound_at


# --- the same rules through the service, over time --------------------------------------------------

# (mode, validity, protection, [(day, opener KOC), ...], holder after each step, reasons recorded)
SCENARIOS = [
    (
        "first touch keeps the customer until the binding lapses",
        FIRST_TOUCH,
        30,
        7,
        [(0, "A"), (5, "B"), (20, "A"), (45, "B"), (51, "B")],
        ["A", "A", "A", "A", "B"],
        [("bound", None, "A"), ("renewed", "A", "A"), ("bound", "A", "B")],
    ),
    (
        "last touch takes the customer once the protection period is over",
        LAST_TOUCH,
        30,
        7,
        [(0, "A"), (3, "B"), (8, "B"), (9, "A"), (16, "A")],
        ["A", "A", "B", "B", "A"],
        [("bound", None, "A"), ("switched", "A", "B"), ("switched", "B", "A")],
    ),
    (
        "last touch without protection: every other KOC's link takes the customer",
        LAST_TOUCH,
        10,
        0,
        [(0, "A"), (0.1, "B"), (1, "A"), (12, "B")],
        ["A", "B", "A", "B"],
        [("bound", None, "A"), ("switched", "A", "B"), ("switched", "B", "A"), ("bound", "A", "B")],
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "validity", "protection", "steps", "holders", "reasons"),
    [case[1:] for case in SCENARIOS],
    ids=[case[0] for case in SCENARIOS],
)
def test_bindings_over_time(mode, validity, protection, steps, holders, reasons):
    # given
    set_policy(mode=mode, validity_days=validity, protection_days=protection)
    product = make_product()
    kocs = {name: make_koc_user() for name in ("A", "B")}
    links = {name: make_link(sharer=user, product=product) for name, user in kocs.items()}
    koc_name = {user.koc.pk: name for name, user in kocs.items()}
    customer = UserFactory()

    # when
    seen = []
    for day, opener in steps:
        services.binding_touch(customer=customer, link=links[opener], via="api", now=T0 + day * DAY)
        holder = holder_at(customer, at=T0 + day * DAY)
        seen.append(koc_name.get(holder))

    # then
    assert seen == holders
    recorded = [
        (change.reason, koc_name.get(change.from_koc_id), koc_name.get(change.to_koc_id))
        for change in BindingChange.objects.filter(customer=customer).order_by("at", "id")
    ]
    assert recorded == reasons


def holder_at(customer, *, at):
    from apps.sharing import selectors

    binding = selectors.current_binding(customer_id=customer.pk, now=at)
    return binding.koc_id if binding else None


@pytest.mark.django_db
def test_every_change_records_the_policy_link_and_dates():
    # given
    set_policy(mode=LAST_TOUCH, validity_days=20, protection_days=5)
    link = make_link(sharer=make_koc_user())
    customer = UserFactory()

    # when
    services.binding_touch(customer=customer, link=link, via="login", now=T0)

    # then
    change = BindingChange.objects.get(customer=customer)
    assert change.policy == {
        "mode": "last_touch",
        "validity_days": 20,
        "protection_days": 5,
        "share_code_wins_unprotected": True,
    }
    assert (change.link, change.via, change.at) == (link, "login", T0)
    assert (change.expires_at, change.protected_until) == (T0 + 20 * DAY, T0 + 5 * DAY)
    binding = CustomerBinding.objects.get(customer=customer)
    assert (binding.link, binding.bound_at, binding.expires_at) == (link, T0, T0 + 20 * DAY)
    assert change.binding == binding


@pytest.mark.django_db
def test_a_koc_opening_their_own_link_never_binds_themself(wechat_sandbox):
    # given
    koc = make_koc_user()
    link = make_link(sharer=koc)

    # when
    response = bearer_client(koc).get(f"/api/v1/share-links/{link.code}")

    # then
    assert response.status_code == 200
    assert not CustomerBinding.objects.exists()
    assert not BindingChange.objects.exists()


@pytest.mark.django_db
def test_a_shoppers_group_share_binds_nobody_but_a_kocs_does(monkeypatch, shopper_client):
    # given: a "group" target (the group-buy app registers the real one)
    from apps.sharing import targets

    monkeypatch.setitem(
        targets._resolvers,
        "group",
        lambda group_id: TargetInfo(title="3人团", price_fen=9900, page="pages/group/index"),
    )
    plain_shopper, koc = UserFactory(), make_koc_user()
    shoppers_link = make_link(sharer=plain_shopper, target="group", target_id=7)
    kocs_link = make_link(sharer=koc, target="group", target_id=7)

    # when
    first = shopper_client.get(f"/api/v1/share-links/{shoppers_link.code}")
    bound_after_first = CustomerBinding.objects.count()
    second = shopper_client.get(f"/api/v1/share-links/{kocs_link.code}")

    # then
    assert (first.status_code, second.status_code) == (200, 200)
    assert bound_after_first == 0
    assert CustomerBinding.objects.get().koc == koc.koc


@pytest.mark.django_db
def test_a_suspended_kocs_link_binds_nobody(shopper_client):
    # given
    koc = make_koc_user()
    link = make_link(sharer=koc)
    koc_services.koc_set_status(koc=koc.koc, status="suspended", by=None)

    # when
    response = shopper_client.get(f"/api/v1/share-links/{link.code}")

    # then
    assert response.status_code == 200
    assert not CustomerBinding.objects.exists()


@pytest.mark.django_db
def test_opening_a_link_logged_in_binds_the_viewer(shopper, shopper_client):
    # given
    koc = make_koc_user()
    link = make_link(sharer=koc)

    # when
    response = shopper_client.get(f"/api/v1/share-links/{link.code}")

    # then
    assert response.status_code == 200
    binding = CustomerBinding.objects.get(customer=shopper)
    assert (binding.koc, binding.link) == (koc.koc, link)
    assert list(BindingChange.objects.values_list("reason", "via")) == [("bound", "api")]


@pytest.mark.django_db
def test_opening_a_link_anonymously_binds_nobody(api_client):
    link = make_link(sharer=make_koc_user())

    response = api_client.get(f"/api/v1/share-links/{link.code}")

    assert response.status_code == 200
    assert not CustomerBinding.objects.exists()


def _deliver_to_sharing(event_type: str, payload: dict, key: str) -> None:
    event = events.publish(event_type, payload, key=key)
    ours = {n: h for n, h in events.subscribers(event_type).items() if n.startswith("apps.sharing.")}
    assert ours, f"the sharing app does not subscribe to {event_type}"
    for name, handler in ours.items():
        events._deliver(event, name, handler)


@pytest.mark.django_db
def test_a_login_with_a_share_code_binds_the_shopper(shopper):
    # given
    koc = make_koc_user()
    link = make_link(sharer=koc)

    # when
    _deliver_to_sharing(
        "shopper_arrived", {"user_id": shopper.pk, "share_code": link.code, "via": "login"}, key="t:1"
    )

    # then
    assert CustomerBinding.objects.get(customer=shopper).koc == koc.koc
    assert BindingChange.objects.get().via == "login"


@pytest.mark.django_db
@pytest.mark.parametrize("junk", ["", "nope", "ZZZZZZZZ", "c=ABCDEFGH", "'; drop table x; --", "码" * 8])
def test_a_login_with_a_junk_share_code_changes_nothing(shopper, junk):
    # when
    _deliver_to_sharing(
        "shopper_arrived", {"user_id": shopper.pk, "share_code": junk, "via": "login"}, key=f"t:{junk}"
    )

    # then
    assert not CustomerBinding.objects.exists()
    assert not BindingChange.objects.exists()


@pytest.mark.django_db
def test_the_real_login_with_a_share_code_binds_through_the_outbox(
    api_client, wechat_sandbox, celery_eager, django_capture_on_commit_callbacks
):
    # given
    koc = make_koc_user()
    link = make_link(sharer=koc)

    # when: the mini-program opened from the QR code logs in with the code
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/auth/wechat-login", {"code": "new-shopper", "share_code": link.code}, format="json"
        )

    # then
    assert response.status_code == 200
    binding = CustomerBinding.objects.get(customer_id=response.json()["user"]["id"])
    assert (binding.koc, binding.link) == (koc.koc, link)


@pytest.mark.django_db
def test_an_operator_release_ends_the_binding_and_is_recorded(shopper):
    # given
    link = make_link(sharer=make_koc_user())
    services.binding_touch(customer=shopper, link=link, via="api", now=T0)
    binding = CustomerBinding.objects.get()
    staff = UserFactory(is_staff=True)

    # when
    services.binding_release(binding=binding, by=staff, note="客户投诉", now=T0 + DAY)

    # then
    from apps.sharing import selectors

    assert selectors.current_binding(customer_id=shopper.pk, now=T0 + DAY) is None
    change = BindingChange.objects.order_by("-id").first()
    assert (change.reason, change.to_koc, change.changed_by, change.note) == (
        "released",
        None,
        staff,
        "客户投诉",
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_touches_bind_the_customer_once():
    # given: first touch, and eight KOCs' links opened by one shopper at the same moment
    import threading

    from django.db import connection

    set_policy(mode=FIRST_TOUCH)
    product = make_product()
    links = [make_link(sharer=make_koc_user(), product=product) for _ in range(8)]
    customer = UserFactory()
    start = threading.Barrier(len(links))
    errors: list[BaseException] = []

    def open_link(link):
        try:
            start.wait()
            services.share_link_open(link=link, viewer=customer, visitor_key=f"u{customer.pk}", now=T0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=open_link, args=(link,)) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: one binding, one recorded change, to the KOC whose touch committed first
    assert errors == []
    binding = CustomerBinding.objects.get(customer=customer)
    [change] = BindingChange.objects.filter(customer=customer)
    assert (change.reason, change.to_koc_id) == ("bound", binding.koc_id)
    assert sum(link.visit_rows.count() for link in links) == 8
