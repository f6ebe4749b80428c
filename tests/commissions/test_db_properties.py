"""Property tests through the database: random trees, rule sets and order/refund event sequences.

Rules are written straight into the tables (not through the compliance check), so the run-time caps
are tested on their own: whatever a rule set says, no order pays more than its cap and no individual
beyond the level limit.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.commissions import selectors
from apps.commissions.engine import effective_max_levels
from apps.commissions.models import Commission, OrderFact, Rule, RuleSet
from apps.commissions.services import accrual
from apps.commissions.services.settlement import settle_commissions
from apps.core.money import floor_fen
from tests.commissions.factories import at, completed_payload, make_product, order_payload, refund_payload
from tests.kocs.factories import make_agency, make_branch, make_individual

_windows = itertools.count()

rule_strategy = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["sales", "sales", "team", "targeted", "tier"]),
        "level": st.integers(0, 3),
        "rate_percent": st.decimals(min_value=0, max_value=25, places=2),
        "beneficiary_role": st.sampled_from(["", "agency", "branch"]),
    }
)


def _tree(depth: int, with_orgs: bool):
    """Organisations (maybe), a leader, then a chain of `depth` KOCs; the deepest sells."""
    parent = make_agency(branch=make_branch()) if with_orgs else None
    chain = [make_individual(parent=parent, role="leader")]
    for _ in range(depth):
        chain.append(make_individual(parent=chain[-1]))
    return chain


def _rule_set(rules: list[dict], start):
    rule_set = RuleSet.objects.create(
        name="随机",
        version=next(_windows) + 1000,
        status="active",
        effective_from=start,
        effective_to=start + timedelta(days=1),
    )
    for i, fields in enumerate(rules):
        Rule.objects.create(rule_set=rule_set, name=f"r{i}", **fields)
    return rule_set


@pytest.mark.django_db
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    depth=st.integers(0, 4),
    with_orgs=st.booleans(),
    rules=st.lists(rule_strategy, max_size=6),
    max_levels=st.integers(1, 5),
    prices=st.lists(st.integers(1, 200_000), min_size=1, max_size=4),
    refunds=st.lists(st.integers(1, 100), max_size=3),
    refund_everything=st.booleans(),
    complete_first=st.booleans(),
)
def test_random_trees_rules_and_refunds_keep_every_invariant(
    depth, with_orgs, rules, max_levels, prices, refunds, refund_everything, complete_first
):
    from django.test import override_settings

    with override_settings(COMMISSION_MAX_LEVELS=max_levels, COMMISSION_FREEZE_DAYS=0):
        start = at(next(_windows) * 2)
        chain = _tree(depth, with_orgs)
        _rule_set(rules, start)
        product = make_product(max_rate="20.00")
        seller = chain[-1]
        order = order_payload(
            koc=seller, lines=[(product, 1, p) for p in prices], paid_at=start + timedelta(hours=1)
        )
        paid_fen = order["paid_fen"]
        # refund amounts: percents of what is left, then maybe the rest
        events, cumulative = [], 0
        for i, percent in enumerate(refunds):
            amount = min(paid_fen - cumulative, max(1, paid_fen * percent // 300))
            if amount <= 0:
                break
            cumulative += amount
            events.append(
                refund_payload(
                    order, refund_id=order["order_id"] * 10 + i, amount_fen=amount, refunded_fen=cumulative
                )
            )
        if refund_everything and cumulative < paid_fen:
            events.append(
                refund_payload(
                    order,
                    refund_id=order["order_id"] * 10 + 9,
                    amount_fen=paid_fen - cumulative,
                    refunded_fen=paid_fen,
                )
            )
            cumulative = paid_fen
        done = completed_payload(order, completed_at=start + timedelta(hours=2))

        if complete_first:
            accrual.order_completed_record(payload=done)
        accrual.order_paid_record(payload=order)
        for refund in events:
            accrual.order_refunded_record(payload=refund)
        accrual.order_completed_record(payload=done)
        settle_commissions(now=start + timedelta(hours=3))

        fact = OrderFact.objects.get(order_id=order["order_id"])
        commissions = list(Commission.objects.filter(order_id=order["order_id"]))
        # the cap, and nothing negative
        assert 0 <= sum(c.amount_fen for c in commissions) <= fact.cap_fen
        assert all(c.amount_fen > 0 and 0 <= c.reversed_fen <= c.amount_fen for c in commissions)
        # no individual beyond the level limit; level k is the k-th individual above the seller
        individuals = list(reversed(chain))  # seller, parent, ...
        allowed = effective_max_levels(max_levels)
        for c in commissions:
            if c.kind in ("direct", "upline", "targeted", "tier"):
                assert c.level < allowed
                assert c.koc_id == individuals[c.level].pk
            else:
                assert c.kind == "team" and c.koc_id in {chain[0].parent_id, chain[0].parent.parent_id}
        # refunds pro rata, what is kept rounded down (never above the share of what is still paid,
        # and all of it within the cap on the net paid); a full refund nets to zero
        net_paid = paid_fen - cumulative
        for c in commissions:
            kept = c.amount_fen - c.reversed_fen
            assert kept == floor_fen(Decimal(c.amount_fen) * net_paid / paid_fen) or (
                kept < floor_fen(Decimal(c.amount_fen) * net_paid / paid_fen)
                and sum(x.amount_fen - x.reversed_fen for x in commissions)
                == floor_fen(Decimal(fact.cap_fen) * net_paid / paid_fen)
            )
            if cumulative == paid_fen:
                assert c.status == "reversed"
        assert sum(c.amount_fen - c.reversed_fen for c in commissions) <= floor_fen(
            Decimal(fact.cap_fen) * net_paid / paid_fen
        )
        # every balance is the sum of its entries and matches the commissions behind it
        by_koc = defaultdict(int)
        for c in Commission.objects.filter(koc_id__in=[c.koc_id for c in commissions]):
            by_koc[c.koc_id] += c.amount_fen - c.reversed_fen
        for koc_id, net in by_koc.items():
            wallet = selectors.wallet(koc_id=koc_id)
            assert wallet["available_fen"] == net
            assert wallet["pending_fen"] == wallet["frozen_fen"] == 0
        assert sum(selectors.ledger_totals().values()) == 0
