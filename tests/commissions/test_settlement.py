"""settle_commissions: frees what is due and closes periods, once, under crashes and concurrency."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.commissions import selectors
from apps.commissions.models import Commission, LedgerEntry, PeriodRun, Rule
from apps.commissions.services import settlement
from apps.commissions.services.settlement import period_bounds, settle_commissions
from tests.commissions.factories import (
    at,
    completed,
    demo_plan,
    make_plan,
    make_product,
    make_team,
    order_payload,
    paid,
)


def local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


def _completed_orders(team, product, count: int, *, completed_at=None):
    for i in range(count):
        order = order_payload(koc=team["mia"], lines=[(product, 1, 1000 * (i + 1))])
        paid(order)
        completed(order, completed_at=completed_at or at(0))


@pytest.fixture
def world(db, settings):
    settings.COMMISSION_FREEZE_DAYS = 7
    team = make_team()
    demo_plan()
    return team, make_product()


def releases() -> int:
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE).count()


def test_nothing_is_freed_before_its_time_and_a_second_run_changes_nothing(world):
    team, product = world
    _completed_orders(team, product, 3)

    assert settle_commissions(now=at(6.99)).released == 0
    report = settle_commissions(now=at(7))
    assert (report.released, report.released_fen) == (6, 600 + 180)  # 3 x (10% + 3%) of 6000 in all
    entries = LedgerEntry.objects.count()
    again = settle_commissions(now=at(30))
    assert (again.released, LedgerEntry.objects.count()) == (0, entries)
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == 600


def test_a_worker_killed_mid_batch_then_rerun_credits_each_commission_once(world, monkeypatch):
    team, product = world
    _completed_orders(team, product, 5)  # 10 commissions
    original = settlement._set_statuses
    batches = {"n": 0}

    def die_in_the_second_batch(by_status):
        batches["n"] += 1
        if batches["n"] == 2:
            # the second batch's release entries are written; the worker dies before it commits
            assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE).count() == 8
            raise SystemExit("worker killed")  # not an Exception: nothing may catch it on the way out
        return original(by_status)

    monkeypatch.setattr(settlement, "_set_statuses", die_in_the_second_batch)

    # when: batches of 4
    with pytest.raises(SystemExit):
        settle_commissions(now=at(7), batch_size=4)

    # then: the first batch is in, the second left nothing behind
    assert releases() == 4
    assert Commission.objects.filter(status="available").count() == 4

    # when: the rerun
    monkeypatch.setattr(settlement, "_set_statuses", original)
    settle_commissions(now=at(7), batch_size=4)

    # then
    assert releases() == 10
    assert LedgerEntry.objects.values("key").distinct().count() == LedgerEntry.objects.count()
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == 1500
    assert selectors.wallet(koc_id=team["lily"].pk)["available_fen"] == 450


def test_the_management_command_settles_as_of_now(world):
    team, product = world
    _completed_orders(team, product, 1)
    out = StringIO()

    call_command("settle_commissions", "--now", at(7).isoformat(), stdout=out)

    assert "released 2 commissions (130 fen)" in out.getvalue()
    call_command("settle_commissions", "--now", at(8).isoformat(), stdout=out)
    assert "released 0 commissions" in out.getvalue()


def test_the_beat_task_settles(world, celery_eager):
    from apps.commissions.tasks import settle_commissions as task

    team, product = world
    _completed_orders(team, product, 1, completed_at=timezone.now() - timezone.timedelta(days=8))

    result = task.delay().get()

    assert result["released"] == 2
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_credit_each_commission_once(settings):
    settings.COMMISSION_FREEZE_DAYS = 0
    team = make_team()
    demo_plan()
    product = make_product()
    _completed_orders(team, product, 20)
    errors = []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            settle_commissions(now=at(1), batch_size=7)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert releases() == 40
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == sum(100 * (i + 1) for i in range(20))


# --- periodic rewards --------------------------------------------------------------------------------------


def test_period_bounds_are_calendar_months_and_quarters():
    from datetime import date

    assert period_bounds("month", date(2030, 12, 31)) == (date(2030, 12, 1), date(2031, 1, 1))
    assert period_bounds("quarter", date(2030, 5, 17)) == (date(2030, 4, 1), date(2030, 7, 1))
    assert period_bounds("quarter", date(2030, 11, 1)) == (date(2030, 10, 1), date(2031, 1, 1))


@pytest.fixture
def periodic(db, settings):
    settings.COMMISSION_FREEZE_DAYS = 0
    team = make_team()
    product = make_product()
    make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")},
        {
            "kind": Rule.Kind.PERIODIC,
            "name": "月度冲刺",
            "period": "month",
            "measure": "own",
            "metric": "amount",
            "target": 20000,
            "amount_fen": 5000,
        },
        {
            "kind": Rule.Kind.PERIODIC,
            "name": "机构季度",
            "period": "quarter",
            "measure": "team",
            "metric": "units",
            "target": 3,
            "amount_fen": 1500,  # 3 units x 5 yuan: COMMISSION_PERIODIC_MAX_FEN_PER_UNIT
            "beneficiary_role": "agency",
        },
        effective_from=local(2030, 1, 1),
    )
    return team, product


def _sale(team, koc, product, price, completed_at, quantity=1):
    order = order_payload(koc=team[koc], lines=[(product, quantity, price)], paid_at=completed_at)
    paid(order)
    completed(order, completed_at=completed_at)
    return order


def test_a_met_monthly_target_pays_once_per_koc_and_period(periodic):
    team, product = periodic
    _sale(team, "mia", product, 15000, local(2030, 3, 5))
    _sale(team, "mia", product, 6000, local(2030, 3, 31, 23, 59))
    _sale(team, "ava", product, 19999, local(2030, 3, 10))  # one fen short
    _sale(team, "mia", product, 30000, local(2030, 4, 2))  # April: counted in April

    settle_commissions(now=local(2030, 3, 31, 23, 59, 59))  # closes January and February (nothing met)
    assert not PeriodRun.objects.filter(period_start="2030-03-01").exists()
    report = settle_commissions(now=local(2030, 4, 1))
    settle_commissions(now=local(2030, 4, 1, 0, 5))

    rewards = Commission.objects.filter(kind="periodic", rule__name="月度冲刺")
    assert report.periods_closed == 2  # March, and the first quarter of the agency's rule
    assert [(c.koc_id, c.amount_fen, str(c.period_start)) for c in rewards] == [
        (team["mia"].pk, 5000, "2030-03-01")
    ]
    assert (
        "2030-03-01 至 2030-03-31 月度个人成交 ¥210.00，达到目标 ¥200.00，奖励 ¥50.00"
        in rewards[0].explanation
    )
    assert PeriodRun.objects.get(period_start="2030-03-01", rule__name="月度冲刺").rewarded == 1


def test_refunds_known_at_closing_count_against_the_target(periodic):
    from tests.commissions.factories import refunded

    team, product = periodic
    order = _sale(team, "mia", product, 25000, local(2030, 5, 5))
    refunded(order, refund_id=order["order_id"] * 10 + 1, amount_fen=6000, refunded_fen=6000)

    settle_commissions(now=local(2030, 6, 1))

    assert not Commission.objects.filter(kind="periodic").exists()


def test_a_quarterly_team_target_pays_the_agency_on_its_subtree_units(periodic):
    team, product = periodic
    _sale(team, "mia", product, 1000, local(2030, 1, 5), quantity=2)
    _sale(team, "ava", product, 1000, local(2030, 2, 5))

    settle_commissions(now=local(2030, 4, 1, 1))

    reward = Commission.objects.get(kind="periodic")
    assert (reward.koc_id, reward.amount_fen, reward.status) == (team["agency"].pk, 1500, "available")
    assert selectors.wallet(koc_id=team["agency"].pk)["available_fen"] == 1500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_close_each_period_once(settings):
    settings.COMMISSION_FREEZE_DAYS = 0
    team = make_team()
    product = make_product()
    make_plan(
        {
            "kind": Rule.Kind.PERIODIC,
            "period": "month",
            "measure": "own",
            "metric": "units",
            "target": 1,
            "amount_fen": 100,
        },
        effective_from=local(2030, 1, 1),
    )
    for koc in ("mia", "ava", "lily"):
        _sale(team, koc, product, 1000, local(2030, 2, 10))
    barrier = threading.Barrier(4)
    errors = []

    def run():
        try:
            barrier.wait()
            settle_commissions(now=local(2030, 4, 1))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Commission.objects.filter(kind="periodic").count() == 3  # February, once per KOC
    assert PeriodRun.objects.filter(closed_at__isnull=False).count() == 3  # January, February, March
