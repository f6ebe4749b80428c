"""Accrual's cost in queries (a regression fails here), and the rules cache behind it staying right."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.commissions import plans
from apps.commissions.models import Commission, LedgerEntry, OrderFact, OrderOrgLink, Rule
from apps.commissions.services import rules as rule_services
from tests.commissions.factories import demo_plan, make_product, make_team, order_payload, paid

# PostgreSQL: the fact upserted and locked (1), every read in one (2), every write in one (3).
# SQLite has no data-modifying CTEs: the writes are the ORM's bulk inserts and the fact's update.
QUERIES = {"postgresql": 3, "sqlite": 6}
SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@pytest.fixture
def world(db):
    return make_team(), make_product(), demo_plan()


def test_order_paid_accrues_in_at_most_four_queries(world):
    team, product, _plan = world
    paid(order_payload(koc=team["ava"], lines=[(product, 1, 9900)]))  # accounts exist, rules cached

    # when
    order = order_payload(koc=team["ava"], lines=[(product, 2, 5000)], paid_fen=9000)
    with CaptureQueriesContext(connection) as queries:
        paid(order)

    # then: the same exact ledger as ever, in three statements on PostgreSQL
    # (the test's own transaction turns the service's into a savepoint: not a query of the service)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(SAVEPOINTS)]
    assert len(statements) == QUERIES[connection.vendor], statements
    assert connection.vendor != "postgresql" or len(statements) <= 4  # the goal, on production's database
    commissions = Commission.objects.filter(order_id=order["order_id"]).order_by("level")
    assert [(c.koc_id, c.amount_fen, c.status) for c in commissions] == [
        (team["ava"].pk, 900, "pending"),
        (team["mia"].pk, 270, "pending"),
    ]
    entries = LedgerEntry.objects.filter(order_id=order["order_id"]).order_by("pk")
    assert [(e.key, e.kind, e.from_bucket, e.to_bucket, e.amount_fen) for e in entries] == [
        (f"c:{c.pk}:accrue", "accrual", "earned", "pending", c.amount_fen) for c in commissions
    ]
    assert all(e.explanation == c.explanation for e, c in zip(entries, commissions, strict=True))
    fact = OrderFact.objects.get(order_id=order["order_id"])
    assert (fact.paid_fen, fact.rule_set_id, fact.cap_fen, fact.accrued_at is not None) == (
        9000,
        _plan.pk,
        fact.cap_fen,
        True,
    )
    assert sorted(OrderOrgLink.objects.filter(order=fact).values_list("org_koc_id", flat=True)) == sorted(
        [team["agency"].pk, team["branch"].pk]
    )


def test_the_second_event_of_an_order_reads_the_fact_it_locked(world):
    team, product, _plan = world
    order = order_payload(koc=team["ava"], lines=[(product, 1, 9900)])
    first = paid(order)
    again = paid(order)  # the same fact: accrued once, nothing new written

    assert again.pk == first.pk and again.accrued_at == first.accrued_at
    assert Commission.objects.filter(order_id=order["order_id"]).count() == 2
    assert LedgerEntry.objects.filter(order_id=order["order_id"]).count() == 2


def test_a_new_rule_set_in_force_pays_its_own_rates_although_the_old_ones_are_cached(world):
    team, product, _old = world
    paid(order_payload(koc=team["ava"], lines=[(product, 1, 10000)]))  # caches the old set's rules
    new = rule_services.ruleset_create(name="新方案", effective_from=timezone.now())
    rule_services.rule_add(
        rule_set=new, name="直推", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("20")
    )
    rule_services.ruleset_activate(rule_set=new)

    order = order_payload(
        koc=team["ava"], lines=[(product, 1, 10000)], paid_at=timezone.now() + timezone.timedelta(seconds=5)
    )
    paid(order)

    commissions = Commission.objects.filter(order_id=order["order_id"])
    assert [(c.koc_id, c.amount_fen, c.rule_set_id) for c in commissions] == [(team["ava"].pk, 2000, new.pk)]


def test_the_rules_cache_forgets_when_a_rule_or_a_rule_set_is_saved(world):
    _team, _product, plan = world
    plans.in_force_spec(plan.pk, plan.version)
    assert (plan.pk, plan.version, "") in plans._SPECS

    Rule.objects.filter(rule_set=plan).first().save()

    assert plans._SPECS == {}


def test_bench_accrual_runs_the_project_and_its_baseline_over_the_same_rows(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("bench_accrual", orders=4, chunk=2, kocs=5, yes=True, stdout=out, stderr=StringIO())

    text = out.getvalue()
    assert "project  (order_paid_record)" in text and "baseline (commit per order" in text
    assert "ratio project/baseline:" in text
    project = Commission.objects.filter(order_id__gt=0)
    baseline = Commission.objects.filter(order_id__lt=0)
    assert project.count() > 0
    assert sorted(project.values_list("amount_fen", flat=True)) == sorted(
        baseline.values_list("amount_fen", flat=True)
    )
    assert LedgerEntry.objects.filter(order_id__lt=0).count() == baseline.count()
    assert OrderFact.objects.filter(order_id__lt=0).count() == 4
