"""Tiers pay what they say (issue 11, point 5): only sales to others count, refunds lower levels under
the admin's downgrade policy, and a level set by an operator holds until the date the operator chose."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.kocs import selectors, services
from apps.kocs.models import Koc, KocOrderLine, KocSale, Level, LevelHistory, TierPolicy
from tests.accounts.factories import UserFactory
from tests.kocs.factories import LevelFactory, make_individual, make_leader, make_sale
from tests.kocs.test_sales_events import completed, deliver

pytestmark = pytest.mark.django_db


def level_of(koc: Koc) -> Level | None:
    return Koc.objects.select_related("level").get(pk=koc.pk).level


def set_downgrade(*, mode: str, days: int = 0) -> TierPolicy:
    policy = TierPolicy.load()
    policy.downgrade, policy.downgrade_after_days = mode, days
    policy.full_clean()
    policy.save()
    return policy


def refunded(*, order_id: int, koc: Koc, buyer_id: int, paid_fen: int, refunded_fen: int, refund_id: int):
    return {
        "order_id": order_id,
        "order_no": f"N{order_id}",
        "refund_id": refund_id,
        "amount_fen": refunded_fen,
        "refunded_fen": refunded_fen,
        "paid_fen": paid_fen,
        "fully_refunded": refunded_fen >= paid_fen,
        "refunded_at": timezone.now().isoformat(),
        "buyer_id": buyer_id,
        "group_id": None,
        "attributed_koc_id": koc.pk,
    }


# --- own purchases -----------------------------------------------------------------------------------


def test_reproduction_purchases_through_ones_own_link_count_as_own_sales(
    shopper, celery_eager, django_capture_on_commit_callbacks
):
    """Reproduced: a KOC buying through her own link got a KocSale and a level from it. Fixed: own
    purchases count towards nothing, for her own sales nor for her leader's team sales."""
    # given: silver at 10 000 own sales; gold at 10 000 of team sales
    LevelFactory(rank=1, name="银牌", min_own_sales_fen=10_000)
    LevelFactory(rank=2, name="金牌", min_team_sales_fen=10_000)
    leader = make_leader()
    koc = make_individual(parent=leader)
    own = completed(order_id=601, koc=koc, buyer_id=koc.user_id, paid_fen=10_000)
    own["attribution"] = {"koc_id": koc.pk, "source": "share_code", "self_purchase": True}

    # when: she buys 10 000 through her own link
    with django_capture_on_commit_callbacks(execute=True):
        deliver("order_completed", own, key="c:601")

    # then: no sale, no level, for her or her leader; the purchase is kept for brand affinity only
    assert KocSale.objects.count() == 0
    assert (selectors.own_sales_fen(koc=koc), selectors.team_sales_fen(koc=leader)) == (0, 0)
    assert (level_of(koc), level_of(leader)) == (None, None)
    assert list(KocOrderLine.objects.values_list("kind", "koc_id", "line_fen")) == [
        ("purchase", koc.pk, 10_000)
    ]


def test_a_purchase_by_the_attributed_kocs_own_user_is_no_sale_even_without_the_flag(shopper):
    # given: a snapshot without self_purchase (an order made before the flag existed)
    koc = make_individual()
    own = completed(order_id=602, koc=koc, buyer_id=koc.user_id, paid_fen=5_000)

    # when
    deliver("order_completed", own, key="c:602")
    deliver(
        "order_completed", completed(order_id=603, koc=koc, buyer_id=shopper.pk, paid_fen=700), key="c:603"
    )

    # then: only the shopper's order is her sale
    assert list(KocSale.objects.values_list("order_id", "amount_fen")) == [(603, 700)]
    assert selectors.own_sales_fen(koc=koc) == 700


def test_a_team_members_purchase_through_the_leaders_link_is_the_leaders_sale(shopper):
    # given: a member buys through her leader's link: a sale to someone else, for the leader
    leader = make_leader()
    member = make_individual(parent=leader)

    # when
    deliver(
        "order_completed",
        completed(order_id=604, koc=leader, buyer_id=member.user_id, paid_fen=3_000),
        key="c:604",
    )

    # then
    assert selectors.own_sales_fen(koc=leader) == 3_000
    assert selectors.own_sales_fen(koc=member) == 0


# --- refunds lower levels ----------------------------------------------------------------------------


def test_reproduction_a_level_reached_stays_after_the_order_is_refunded(
    shopper, celery_eager, django_capture_on_commit_callbacks
):
    """Reproduced: a level reached on an order stayed after the order was refunded (a refund never
    re-evaluated, and evaluation never lowered). Fixed under the default policy (downgrade at once)."""
    # given: the KOC reaches gold on one order; her leader reaches silver on team sales
    silver = LevelFactory(rank=1, name="银牌", min_team_sales_fen=8_000)
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=8_000)
    leader = make_leader()
    koc = make_individual(parent=leader)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            "order_completed",
            completed(order_id=611, koc=koc, buyer_id=shopper.pk, paid_fen=10_000),
            key="c:611",
        )
    assert (level_of(koc), level_of(leader)) == (gold, silver)

    # when: 2 001 fen are refunded (7 999 left), the refund's event delivered
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            "order_refunded",
            refunded(
                order_id=611, koc=koc, buyer_id=shopper.pk, paid_fen=10_000, refunded_fen=2_001, refund_id=1
            ),
            key="r:611",
        )

    # then: 7 999 meets neither gold (own 8 000) for her nor silver (team 8 000) for her leader
    assert (level_of(koc), level_of(leader)) == (None, None)
    down = LevelHistory.objects.filter(koc=koc).order_by("-id").first()
    assert (down.from_level, down.to_level, down.automatic) == (gold, None, True)
    assert {k: down.stats[k] for k in ("own_sales_fen", "team_sales_fen", "active_direct_kocs")} == {
        "own_sales_fen": 7_999,
        "team_sales_fen": 7_999,
        "active_direct_kocs": 0,
    }
    assert down.stats["downgrade_after_days"] == 0
    assert LevelHistory.objects.filter(koc=leader).order_by("-id").first().to_level is None


def test_a_downgrade_goes_to_the_highest_level_still_met():
    # given
    silver = LevelFactory(rank=1, name="银牌", min_own_sales_fen=1_000)
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    koc = make_individual()
    make_sale(koc=koc, amount_fen=1_500)
    sale = make_sale(koc=koc, amount_fen=4_000)
    assert services.koc_evaluate_tier(koc_id=koc.pk).to_level == gold

    # when
    KocSale.objects.filter(pk=sale.pk).update(refunded_fen=4_000, amount_fen=0)
    change = services.koc_evaluate_tier(koc_id=koc.pk)

    # then
    assert (change.from_level, change.to_level, level_of(koc)) == (gold, silver, silver)
    assert Koc.objects.get(pk=koc.pk).level_below_since is None


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("mode", "days", "evaluated_after", "expected"),
    [
        # downgrade at once (the default)
        ("after_days", 0, timedelta(0), "silver"),
        # after N days below the condition: not a second before, then to the highest level met
        ("after_days", 7, timedelta(0), "gold"),
        ("after_days", 7, 7 * DAY - timedelta(seconds=1), "gold"),
        ("after_days", 7, 7 * DAY, "silver"),
        ("after_days", 7, 30 * DAY, "silver"),
        ("after_days", 1, DAY, "silver"),
        # never: the level stays whatever happens
        ("never", 0, timedelta(0), "gold"),
        ("never", 0, 365 * DAY, "gold"),
    ],
)
def test_the_downgrade_policy_table(mode, days, evaluated_after, expected):
    # given: gold reached; then a refund takes own sales below gold (still silver)
    levels = {
        "silver": LevelFactory(rank=1, name="银牌", min_own_sales_fen=1_000),
        "gold": LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000),
    }
    set_downgrade(mode=mode, days=days)
    koc = make_individual()
    sale = make_sale(koc=koc, amount_fen=6_000)
    t0 = timezone.now()
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0 - DAY)
    KocSale.objects.filter(pk=sale.pk).update(refunded_fen=3_000, amount_fen=3_000)

    # when: evaluated when the refund arrives, then again later (the nightly pass)
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0)
    assert Koc.objects.get(pk=koc.pk).level_below_since == (None if level_of(koc) == levels["silver"] else t0)
    services.all_tiers_evaluate(now=t0 + evaluated_after)

    # then
    assert level_of(koc) == levels[expected]
    changes = list(
        LevelHistory.objects.filter(koc=koc).order_by("id").values_list("to_level__name", "automatic")
    )
    assert changes == [("金牌", True)] + ([("银牌", True)] if expected == "silver" else [])


def test_the_days_below_restart_when_the_condition_is_met_again():
    # given: 7 days' grace; below for 5 days, then a new sale lifts her back above gold's condition
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    set_downgrade(mode="after_days", days=7)
    koc = make_individual()
    sale = make_sale(koc=koc, amount_fen=5_000)
    t0 = timezone.now()
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0)
    KocSale.objects.filter(pk=sale.pk).update(refunded_fen=1, amount_fen=4_999)
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0)
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0 + 5 * DAY)
    make_sale(koc=koc, amount_fen=1)
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0 + 5 * DAY)
    assert Koc.objects.get(pk=koc.pk).level_below_since is None

    # when: below again on day 6, evaluated on day 12 (6 days below this time)
    KocSale.objects.filter(koc=koc, amount_fen=1).update(refunded_fen=1, amount_fen=0)
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0 + 6 * DAY)
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0 + 12 * DAY)

    # then: still gold; a day later, down
    assert level_of(koc) == gold
    services.koc_evaluate_tier(koc_id=koc.pk, now=t0 + 13 * DAY)
    assert level_of(koc) is None


def test_the_nightly_pass_downgrades_without_any_new_sale(celery_eager):
    # given: 3 days' grace, gold reached, then below it
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    set_downgrade(mode="after_days", days=3)
    koc = make_individual()
    sale = make_sale(koc=koc, amount_fen=5_000)
    services.koc_evaluate_tier(koc_id=koc.pk)
    KocSale.objects.filter(pk=sale.pk).update(refunded_fen=5_000, amount_fen=0)
    below_since = timezone.now() - 3 * DAY
    Koc.objects.filter(pk=koc.pk).update(level_below_since=below_since)
    assert level_of(koc) == gold

    # when: beat's nightly task runs
    result = celery_eager.tasks["kocs.evaluate_all_tiers"].delay()

    # then
    assert result.get() == 1
    assert level_of(koc) is None
    down = LevelHistory.objects.filter(koc=koc).order_by("-id").first()
    assert down.stats["below_since"] == timezone.localtime(below_since).isoformat()
    assert down.stats["downgrade_after_days"] == 3


def test_the_downgrade_policy_refuses_an_out_of_range_number_of_days():
    from django.core.exceptions import ValidationError

    policy = TierPolicy.load()
    policy.downgrade_after_days = 3651
    with pytest.raises(ValidationError) as exc:
        policy.full_clean()
    assert "downgrade_after_days" in exc.value.message_dict


# --- an operator's level holds until the chosen date ---------------------------------------------------


def test_reproduction_an_operators_manual_downgrade_is_undone_by_the_next_evaluation():
    """Reproduced: an operator lowered a KOC meeting gold to silver; the next evaluation put gold back.
    Fixed: the operator's level holds through the date chosen, then the evaluation decides again."""
    # given: a KOC who meets gold
    silver = LevelFactory(rank=1, name="银牌", min_own_sales_fen=1_000)
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    koc = make_individual()
    make_sale(koc=koc, amount_fen=6_000)
    services.koc_evaluate_tier(koc_id=koc.pk)
    ops = UserFactory(is_staff=True)
    today = timezone.localdate()

    # when: lowered to silver until 10 days from today, then evaluated every day of the hold
    services.koc_set_level(koc=koc, level=silver, by=ops, reason="刷单处罚", hold_until=today + 10 * DAY)
    start = timezone.now()
    for day in range(11):
        services.all_tiers_evaluate(now=start + day * DAY)

    # then: silver throughout, with the reason and the date recorded
    assert level_of(koc) == silver
    held = LevelHistory.objects.filter(koc=koc, automatic=False).get()
    assert (held.from_level, held.to_level, held.reason, held.held_until, held.changed_by) == (
        gold,
        silver,
        "刷单处罚",
        today + 10 * DAY,
        ops,
    )
    assert held.stats == {"own_sales_fen": 6_000, "team_sales_fen": 6_000, "active_direct_kocs": 0}
    assert Koc.objects.get(pk=koc.pk).level_held_until == today + 10 * DAY

    # when: the day after the hold
    services.all_tiers_evaluate(now=start + 11 * DAY)

    # then: the conditions decide again
    assert level_of(koc) == gold


def test_an_operators_upgrade_holds_against_a_downgrade_until_its_date():
    # given: a KOC with no sales, raised to gold for a launch (头部团队保护) for 3 days
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    koc = make_individual()
    today = timezone.localdate()
    services.koc_set_level(koc=koc, level=gold, by=None, reason="头部团队保护", hold_until=today + 3 * DAY)
    start = timezone.now()

    # when / then
    services.koc_evaluate_tier(koc_id=koc.pk, now=start + 3 * DAY)
    assert level_of(koc) == gold
    services.koc_evaluate_tier(koc_id=koc.pk, now=start + 4 * DAY)
    assert level_of(koc) is None


def test_a_hold_date_in_the_past_is_refused_and_nothing_changes():
    gold = LevelFactory(rank=2, name="金牌")
    koc = make_individual()
    with pytest.raises(ApplicationError) as exc:
        services.koc_set_level(
            koc=koc, level=gold, by=None, reason="x", hold_until=timezone.localdate() - timedelta(days=1)
        )
    assert (exc.value.code, exc.value.status_code, list(exc.value.fields)) == (
        "validation_error",
        400,
        ["hold_until"],
    )
    assert level_of(koc) is None
    assert LevelHistory.objects.count() == 0
