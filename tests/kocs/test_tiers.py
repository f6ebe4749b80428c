"""Tiers (等级权益): exact upgrade conditions, no head-count levels, history, manual sets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.core.errors import ApplicationError
from apps.kocs import services
from apps.kocs.models import Koc, KocSale, Level, LevelHistory
from tests.accounts.factories import UserFactory
from tests.kocs.factories import LevelFactory, make_individual, make_leader, make_sale

pytestmark = pytest.mark.django_db


def level_of(koc: Koc) -> Level | None:
    return Koc.objects.select_related("level").get(pk=koc.pk).level


def test_own_sales_upgrade_exactly_at_the_threshold_not_one_fen_before():
    # given
    silver = LevelFactory(rank=1, name="银牌", min_own_sales_fen=100_000)
    koc = make_individual(parent=make_leader())
    make_sale(koc=koc, amount_fen=60_000)
    make_sale(koc=koc, amount_fen=39_999)

    # when: 99 999 fen
    assert services.koc_evaluate_tier(koc_id=koc.pk) is None

    # then
    assert level_of(koc) is None
    assert LevelHistory.objects.count() == 0

    # when: one more fen
    make_sale(koc=koc, amount_fen=1)
    assert services.koc_evaluate_tier(koc_id=koc.pk).to_level == silver

    # then
    assert level_of(koc) == silver
    entry = LevelHistory.objects.get(koc=koc)
    assert entry.from_level is None and entry.to_level == silver and entry.automatic
    assert entry.stats == {"own_sales_fen": 100_000, "team_sales_fen": 100_000, "active_direct_kocs": 0}
    # running it again changes nothing
    assert services.koc_evaluate_tier(koc_id=koc.pk) is None
    assert LevelHistory.objects.count() == 1


def test_team_sales_upgrade_exactly_at_the_threshold():
    # given: the leader's team sells, the leader itself sells nothing
    gold = LevelFactory(rank=2, name="金牌", min_team_sales_fen=500_000)
    leader = make_leader()
    a = make_individual(parent=leader)
    b = make_individual(parent=a)
    make_sale(koc=a, amount_fen=300_000)
    make_sale(koc=b, amount_fen=199_999)

    assert services.koc_evaluate_tier(koc_id=leader.pk) is None
    make_sale(koc=b, amount_fen=1)
    assert services.koc_evaluate_tier(koc_id=leader.pk).to_level == gold
    assert level_of(leader) == gold


def test_head_count_alone_never_upgrades():
    # given: a level needing 3 direct KOCs who sold, and 100 fen of team sales
    captain = LevelFactory(rank=1, name="队长", min_team_sales_fen=100, min_active_direct_kocs=3)
    leader = make_leader()
    members = [make_individual(parent=leader) for _ in range(10)]
    make_sale(koc=leader, amount_fen=10_000)  # plenty of team sales, from the leader itself

    # when: ten recruits, none of whom sold
    assert services.koc_evaluate_tier(koc_id=leader.pk) is None
    assert level_of(leader) is None

    # when: two sold, and a third had its only sale refunded in full
    make_sale(koc=members[0], amount_fen=100)
    make_sale(koc=members[1], amount_fen=100)
    refunded = make_sale(koc=members[2], amount_fen=100)
    KocSale.objects.filter(pk=refunded.pk).update(refunded_fen=100, amount_fen=0)
    # and a grandchild sold (not a direct member)
    make_sale(koc=make_individual(parent=members[3]), amount_fen=100)
    assert services.koc_evaluate_tier(koc_id=leader.pk) is None

    # when: a third direct member really sells
    make_sale(koc=members[4], amount_fen=1)

    # then
    assert services.koc_evaluate_tier(koc_id=leader.pk).to_level == captain


def test_a_level_resting_on_head_count_alone_cannot_be_saved():
    level = Level(name="拉人头", rank=7, min_active_direct_kocs=5)
    with pytest.raises(ValidationError) as exc:
        level.full_clean()
    assert "min_active_direct_kocs" in exc.value.message_dict


def test_the_highest_level_met_is_reached_directly_and_lowered_when_the_sale_is_refunded():
    # given
    LevelFactory(rank=1, name="银牌", min_own_sales_fen=1_000)
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    LevelFactory(rank=3, name="钻石", min_own_sales_fen=50_000)
    koc = make_individual()
    sale = make_sale(koc=koc, amount_fen=6_000)

    # when
    assert services.koc_evaluate_tier(koc_id=koc.pk).to_level == gold

    # when: the sale is refunded after the upgrade (the default policy: down at once)
    KocSale.objects.filter(pk=sale.pk).update(refunded_fen=6_000, amount_fen=0)
    change = services.koc_evaluate_tier(koc_id=koc.pk)

    # then
    assert (change.from_level, change.to_level, level_of(koc)) == (gold, None, None)


def test_an_operator_sets_any_level_with_a_reason():
    # given
    silver = LevelFactory(rank=1, name="银牌", min_own_sales_fen=1_000)
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=5_000)
    koc = make_individual()
    ops = UserFactory(is_staff=True)

    # when / then: a reason is required
    with pytest.raises(ApplicationError) as exc:
        services.koc_set_level(koc=koc, level=gold, by=ops, reason="")
    assert exc.value.code == "reason_required"

    # when
    services.koc_set_level(koc=koc, level=gold, by=ops, reason="头部团队保护期")
    services.koc_set_level(koc=koc, level=silver, by=ops, reason="保护期结束")

    # then
    assert level_of(koc) == silver
    entries = list(LevelHistory.objects.filter(koc=koc).order_by("id"))
    assert [(e.from_level, e.to_level, e.automatic, e.changed_by) for e in entries] == [
        (None, gold, False, ops),
        (gold, silver, False, ops),
    ]


def test_organisations_and_pending_applicants_have_no_tier():
    LevelFactory(rank=0, name="普通")  # no condition at all
    leader = make_leader()
    agency = Koc.objects.get(pk=leader.parent_id)
    pending = services.koc_apply(user=UserFactory(), real_name="王五")
    assert services.koc_evaluate_tier(koc_id=agency.pk) is None
    assert services.koc_evaluate_tier(koc_id=pending.pk) is None
    assert services.koc_evaluate_tier(koc_id=leader.pk) is not None


def test_the_nightly_task_is_registered_under_its_beat_name_and_evaluates_everyone(celery_eager):
    # given
    silver = LevelFactory(rank=1, name="银牌", min_own_sales_fen=100)
    a, b = make_individual(), make_individual()
    make_sale(koc=a, amount_fen=100)
    make_sale(koc=b, amount_fen=99)

    # when
    result = celery_eager.tasks["kocs.evaluate_all_tiers"].delay()

    # then
    assert result.get() == 1
    assert level_of(a) == silver and level_of(b) is None


def test_level_bonus_fields_are_decimals():
    level = LevelFactory(
        rank=4, commission_bonus_percent=Decimal("1.50"), own_purchase_discount_percent=Decimal("5")
    )
    level.refresh_from_db()
    assert level.commission_bonus_percent == Decimal("1.50")
    assert isinstance(level.own_purchase_discount_percent, Decimal)
