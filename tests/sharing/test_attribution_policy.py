"""The binding policy decides attribution (issue 11, point 6), and a link's counters are net of refunds."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from apps.core import events
from apps.core.models import OutboxEvent
from apps.sharing import binding_rules, services
from apps.sharing.binding_rules import FIRST_TOUCH, LAST_TOUCH, Current, Policy
from apps.sharing.models import ShareLink, ShareLinkOrder
from apps.shop import events as shop_events
from apps.shop import services as shop_services
from apps.shop.models import Order, Refund
from tests.accounts.factories import UserFactory
from tests.sharing.factories import make_koc_user, make_link, make_product, set_policy
from tests.shop.factories import make_order, payment_notice

T0 = timezone.make_aware(datetime(2026, 3, 1, 10, 0))
DAY = timedelta(days=1)
A, B = 1, 2


def current(koc_id=A, *, bound=-3, validity=30, protection=7, approved=True) -> Current:
    bound_at = T0 + bound * DAY
    return Current(
        koc_id=koc_id,
        bound_at=bound_at,
        touched_at=bound_at,
        expires_at=bound_at + validity * DAY,
        protected_until=bound_at + protection * DAY,
        koc_approved=approved,
    )


# (case, mode, explicit code wins when unprotected, binding, KOC of the order's share code,
#  expected: (source, KOC, why, overridden claim))
CASES = [
    ("no code, no binding", LAST_TOUCH, True, None, None, (None, None, "nobody", None)),
    ("a code and no binding", LAST_TOUCH, True, None, B, ("share_code", B, "share_code", None)),
    ("a binding and no code", LAST_TOUCH, True, current(bound=-3), None, ("binding", A, "binding", None)),
    ("first touch: the bound KOC keeps it", FIRST_TOUCH, True, current(bound=-3), B,
     ("binding", A, "protected_binding", "share_code")),
    ("first touch: protected while the binding holds", FIRST_TOUCH, True, current(bound=-29.9), B,
     ("binding", A, "protected_binding", "share_code")),
    ("first touch: an expired binding protects nobody", FIRST_TOUCH, False, current(bound=-30), B,
     ("share_code", B, "share_code", None)),
    ("last touch: inside the protection period", LAST_TOUCH, True, current(bound=-3), B,
     ("binding", A, "protected_binding", "share_code")),
    ("last touch: protected until the last second", LAST_TOUCH, True, current(bound=-6.99), B,
     ("binding", A, "protected_binding", "share_code")),
    ("last touch: unprotected, the code wins (setting on)", LAST_TOUCH, True, current(bound=-7), B,
     ("share_code", B, "share_code_over_unprotected_binding", "binding")),
    ("last touch: unprotected, the binding stays (setting off)", LAST_TOUCH, False, current(bound=-7), B,
     ("binding", A, "unprotected_binding_kept", "share_code")),
    ("last touch: no protection period at all, setting on", LAST_TOUCH, True,
     current(bound=0, protection=0), B,
     ("share_code", B, "share_code_over_unprotected_binding", "binding")),
    ("last touch: no protection period at all, setting off", LAST_TOUCH, False,
     current(bound=0, protection=0), B, ("binding", A, "unprotected_binding_kept", "share_code")),
    ("the bound KOC's own code", LAST_TOUCH, False, current(bound=-3), A,
     ("share_code", A, "share_code", None)),
    ("a suspended KOC's binding protects nobody", FIRST_TOUCH, False, current(approved=False), B,
     ("share_code", B, "share_code", None)),
    ("a suspended KOC's binding attributes nothing", FIRST_TOUCH, False, current(approved=False), None,
     (None, None, "nobody", None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "code_wins", "binding", "code_koc", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_attribution_policy_table(mode, code_wins, binding, code_koc, expected):
    policy = Policy(mode=mode, validity_days=30, protection_days=7, share_code_wins_unprotected=code_wins)

    decided = binding_rules.attribute(current=binding, code_koc_id=code_koc, policy=policy, now=T0)

    assert (decided.source, decided.koc_id, decided.why, decided.overridden) == expected


# --- through real orders -----------------------------------------------------------------------------


@pytest.fixture
def world(db):
    product = make_product(price_fen=9900)
    a, b = make_koc_user(nickname="A"), make_koc_user(nickname="B")
    return {
        "sku": product.skus.get(),
        "a": a,
        "b": b,
        "link_a": make_link(sharer=a, product=product),
        "link_b": make_link(sharer=b, product=product),
        "shopper": UserFactory(),
    }


def order(world, *, share_code=None) -> Order:
    return make_order(buyer=world["shopper"], sku=world["sku"], share_code=share_code)


def bind_to_a(world, *, days_ago: float = 0) -> None:
    services.binding_touch(
        customer=world["shopper"], link=world["link_a"], via="api", now=timezone.now() - days_ago * DAY
    )


def test_reproduction_a_shopper_protected_as_koc_as_customer_is_attributed_to_koc_b_as_soon_as_the_order_carries_bs_share_code(  # noqa: E501
    world,
):
    """Reproduced: any order carrying B's share code went to B, protection or not. Fixed: A keeps her
    protected customer, and the snapshot says why and which code lost."""
    # given: the shopper opened A's link 2 days ago (last touch, 7 days' protection)
    set_policy(mode=LAST_TOUCH, validity_days=30, protection_days=7)
    bind_to_a(world, days_ago=2)
    binding = world["shopper"].share_binding

    # when: the order carries B's code
    placed = order(world, share_code=world["link_b"].code)

    # then
    assert (placed.attributed_koc_id, placed.share_link_id) == (world["a"].koc.pk, world["link_a"].pk)
    assert placed.attribution == {
        "koc_id": world["a"].koc.pk,
        "share_link_id": world["link_a"].pk,
        "source": "binding",
        "why": "protected_binding",
        "self_purchase": False,
        "share_code": world["link_a"].code,
        "binding_id": binding.pk,
        "binding": {
            "koc_id": world["a"].koc.pk,
            "expires_at": timezone.localtime(binding.expires_at).isoformat(),
            "protected_until": timezone.localtime(binding.protected_until).isoformat(),
            "protected": True,
        },
        "overridden": {
            "source": "share_code",
            "koc_id": world["b"].koc.pk,
            "share_link_id": world["link_b"].pk,
            "share_code": world["link_b"].code,
        },
        "policy": {
            "mode": "last_touch",
            "validity_days": 30,
            "protection_days": 7,
            "share_code_wins_unprotected": True,
        },
    }


def test_first_touch_protects_the_customer_for_as_long_as_the_binding_holds(world):
    set_policy(mode=FIRST_TOUCH, validity_days=30, protection_days=7)
    bind_to_a(world, days_ago=20)

    placed = order(world, share_code=world["link_b"].code)

    assert (placed.attributed_koc_id, placed.attribution["why"]) == (world["a"].koc.pk, "protected_binding")


@pytest.mark.parametrize(
    ("code_wins", "expected_koc", "why"),
    [(True, "b", "share_code_over_unprotected_binding"), (False, "a", "unprotected_binding_kept")],
)
def test_after_the_protection_period_the_admin_setting_decides(world, code_wins, expected_koc, why):
    # given: bound to A 10 days ago, protected for 7
    policy = set_policy(mode=LAST_TOUCH, validity_days=30, protection_days=7)
    policy.share_code_wins_unprotected = code_wins
    policy.save()
    bind_to_a(world, days_ago=10)
    binding = world["shopper"].share_binding

    # when
    placed = order(world, share_code=world["link_b"].code)

    # then
    assert placed.attributed_koc_id == world[expected_koc].koc.pk
    assert placed.share_link_id == world[f"link_{expected_koc}"].pk
    assert (placed.attribution["why"], placed.attribution["binding_id"]) == (why, binding.pk)
    assert placed.attribution["binding"]["protected"] is False
    if code_wins:
        assert placed.attribution["overridden"] == {
            "source": "binding",
            "koc_id": world["a"].koc.pk,
            "binding_id": binding.pk,
            "share_link_id": world["link_a"].pk,
        }
    else:
        assert placed.attribution["overridden"]["share_code"] == world["link_b"].code


# --- a link's orders and GMV, net of refunds -----------------------------------------------------------


def pay(placed: Order) -> None:
    shop_services.payment_notification_handle(notice=payment_notice(placed))
    events.dispatch(OutboxEvent.objects.get(key=f"order_paid:{placed.pk}").pk)


def refund(placed: Order, amount_fen: int, *, deliver: bool = True) -> OutboxEvent:
    """A refund WeChat has completed, published by the shop's own publisher."""
    made = shop_services.refund_create(order=placed, amount_fen=amount_fen, reason="测试")
    Refund.objects.filter(pk=made.pk).update(status=Refund.Status.SUCCEEDED, refunded_at=timezone.now())
    Order.objects.filter(pk=placed.pk).update(refunded_fen=F("refunded_fen") + amount_fen)
    placed.refresh_from_db()
    made.refresh_from_db()
    shop_events.publish_order_refunded(placed, made)
    event = OutboxEvent.objects.get(key=f"order_refunded:{made.pk}")
    if deliver:
        events.dispatch(event.pk)
    return event


def counters(link: ShareLink) -> tuple[int, int]:
    link.refresh_from_db()
    return link.orders, link.gmv_fen


def test_reproduction_a_links_gmv_fen_keeps_refunded_orders(world):
    """Reproduced: a refunded order stayed in its link's orders and gmv_fen. Fixed: net of refunds."""
    # given: three orders of 9 900 through A's link
    orders = [order(world, share_code=world["link_a"].code) for _ in range(3)]
    for placed in orders:
        pay(placed)
    assert counters(world["link_a"]) == (3, 29_700)

    # when: the first is refunded in full, the second in part (2 000, then 900)
    refund(orders[0], 9_900)
    refund(orders[1], 2_000)
    refund(orders[1], 900)

    # then: 2 orders, 29 700 - 9 900 - 2 900
    assert counters(world["link_a"]) == (2, 16_900)
    assert list(ShareLinkOrder.objects.order_by("order_id").values_list("paid_fen", "refunded_fen")) == [
        (9_900, 9_900),
        (9_900, 2_900),
        (9_900, 0),
    ]


def test_link_refunds_are_idempotent_and_independent_of_delivery_order(world):
    # given: a paid order through A's link
    placed = order(world, share_code=world["link_a"].code)
    pay(placed)
    first = refund(placed, 3_000, deliver=False)
    second = refund(placed, 6_900, deliver=False)

    # when: the later refund arrives first, then the earlier, then both again by hand
    events.dispatch(second.pk)
    events.dispatch(first.pk)
    services.order_refund_record(refund=first.payload)
    services.order_refund_record(refund=second.payload)

    # then
    assert counters(world["link_a"]) == (0, 0)


def test_a_refund_delivered_before_the_payment_is_counted_once_both_arrive(world):
    # given: the sharing app's delivery of order_paid failed; the refund's event arrives first
    placed = order(world, share_code=world["link_a"].code)
    shop_services.payment_notification_handle(notice=payment_notice(placed))
    paid_event = OutboxEvent.objects.get(key=f"order_paid:{placed.pk}")
    refunded_event = refund(placed, 4_000, deliver=False)

    # when
    services.order_refund_record(refund=refunded_event.payload)
    assert counters(world["link_a"]) == (1, 5_900)
    services.order_paid_record(order=paid_event.payload)

    # then
    assert counters(world["link_a"]) == (1, 5_900)
    assert ShareLinkOrder.objects.count() == 1


def test_a_refund_of_an_order_through_no_link_counts_nowhere(world):
    placed = order(world)
    pay(placed)
    refund(placed, 9_900)
    assert not ShareLinkOrder.objects.exists()
    assert counters(world["link_a"]) == (0, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_paid_and_refund_events_leave_exact_link_counters():
    # given: 12 orders of 9 900 through one link; refunds of 0, 2 000, then 7 900 more (in full)
    import random
    import threading

    from django.db import connection

    product = make_product(price_fen=9900, stock=100)
    link = make_link(sharer=make_koc_user(), product=product)
    payloads = []
    for i in range(12):
        placed = make_order(buyer=UserFactory(), sku=product.skus.get(), share_code=link.code)
        shop_services.payment_notification_handle(notice=payment_notice(placed))
        payloads.append(("paid", OutboxEvent.objects.get(key=f"order_paid:{placed.pk}").payload))
        if i % 3 >= 1:
            payloads.append(("refund", refund(placed, 2_000, deliver=False).payload))
        if i % 3 == 2:
            payloads.append(("refund", refund(placed, 7_900, deliver=False).payload))
    random.Random(11).shuffle(payloads)
    queue = list(payloads)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work():
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    kind, payload = queue.pop()
                if kind == "paid":
                    services.order_paid_record(order=payload)
                else:
                    services.order_refund_record(refund=payload)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when: six workers, events in any order
    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: 8 orders left (4 refunded in full), 12 x 9 900 - 4 x 2 000 - 4 x 9 900
    assert errors == []
    assert counters(link) == (8, 118_800 - 8_000 - 39_600)
    assert ShareLinkOrder.objects.count() == 12


def test_the_migration_takes_existing_refunds_off_the_link_counters(world):
    # given: three paid orders counted the old way, two of them refunded since (one in full)
    import importlib

    from django.apps import apps

    migration = importlib.import_module("apps.sharing.migrations.0003_link_counters_net_of_refunds")
    orders = [order(world, share_code=world["link_a"].code) for _ in range(3)]
    for placed in orders:
        pay(placed)
    Order.objects.filter(pk=orders[0].pk).update(refunded_fen=9_900)
    Order.objects.filter(pk=orders[1].pk).update(refunded_fen=1_234)
    assert counters(world["link_a"]) == (3, 29_700)

    # when
    migration.recount(apps, None)

    # then
    assert counters(world["link_a"]) == (2, 29_700 - 9_900 - 1_234)
    assert counters(world["link_b"]) == (0, 0)
