"""The engine against the naive reference model (reference_model.py): random trees, rule sets of every
kind (windows, scopes, product and KOC lists, per-unit amounts, tier bonuses, team rules, a periodic
target), orders of several lines and two brands, line and amount refunds, and every event delivered
in a random order. The same commissions, reversals and rewards, to the fen."""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.commissions.models import Commission, Rule, RuleSet
from apps.commissions.services import accrual
from apps.commissions.services.settlement import settle_commissions
from tests.commissions import reference_model as ref
from tests.kocs.factories import LevelFactory, make_agency, make_branch, make_individual
from tests.shop.factories import BrandFactory, CategoryFactory, ProductFactory, SkuFactory

_months = itertools.count()
_ids = itertools.count(1)
BRAND_MAX = {"A": Decimal("15"), "B": Decimal("30")}
CAP = Decimal("30")

rates = st.decimals(min_value=0, max_value=30, places=2)
windows = st.sampled_from(["none", "first_week", "after_first_week"])


@st.composite
def rule_drafts(draw):
    kind = draw(st.sampled_from(["sales", "sales", "sales", "targeted", "tier", "team"]))
    basis = (
        draw(st.sampled_from(["percent", "percent", "per_unit"]))
        if kind in ("sales", "targeted")
        else "percent"
    )
    scope = draw(st.sampled_from(["all", "all", "brand", "category", "product"]))
    return {
        "kind": kind,
        "level": draw(st.integers(0, 2)) if kind == "sales" else 0,
        "basis": basis,
        "rate": draw(rates),
        "amount": draw(st.integers(1, 500)),
        "scope": scope,
        "scope_ref": draw(
            st.sampled_from(
                {
                    "all": [None],
                    "brand": ["A", "B"],
                    "category": ["C0", "C1", "C2"],
                    "product": ["P1", "P2", "P3"],
                }[scope]
            )
        ),
        "products": draw(st.sets(st.sampled_from(["P1", "P2", "P3"]), max_size=2)),
        "kocs": draw(st.sets(st.sampled_from(["seller", "parent", "nobody"]), max_size=2)),
        "window": draw(windows),
        "role": draw(st.sampled_from(["", "agency", "branch"])) if kind == "team" else "",
    }


@st.composite
def order_drafts(draw):
    lines = draw(
        st.lists(
            st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.integers(1, 3), st.integers(1, 20_000)),
            min_size=1,
            max_size=3,
        )
    )
    total = sum(q * p for _p, q, p in lines)
    refunds = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("line"), st.integers(0, 2), st.integers(1, 3)),
                st.tuples(st.just("amount"), st.integers(1, 100), st.just(0)),
            ),
            max_size=3,
        )
    )
    return {
        "lines": lines,
        "discount": draw(st.integers(0, total // 5)),
        "day": draw(st.integers(0, 20)),
        "self_purchase": draw(st.sampled_from([False, False, True])),
        "refunds": refunds,
    }


def _round(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _pro_rata(total: int, part: int, whole: int) -> int:
    return _round(Decimal(total) * part / whole) if whole > 0 else 0


def _catalogue():
    brands = {k: BrandFactory(max_commission_rate=v) for k, v in BRAND_MAX.items()}
    c0 = CategoryFactory()
    categories = {"C0": c0, "C1": CategoryFactory(parent=c0), "C2": CategoryFactory()}
    products = {
        "P1": ProductFactory(brand=brands["A"], category=categories["C1"]),
        "P2": ProductFactory(brand=brands["A"], category=categories["C0"]),
        "P3": ProductFactory(brand=brands["B"], category=categories["C2"]),
    }
    for product in products.values():
        SkuFactory(product=product, price_fen=100)
    paths = {"C0": (c0.pk,), "C1": (categories["C1"].pk, c0.pk), "C2": (categories["C2"].pk,)}
    return brands, categories, products, paths


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    depth=st.integers(0, 3),
    with_orgs=st.booleans(),
    bonus=st.sampled_from([Decimal(0), Decimal("1.5"), Decimal(5)]),
    drafts=st.lists(rule_drafts(), max_size=6),
    periodic=st.one_of(st.none(), st.tuples(st.integers(1, 60_000), st.integers(1, 20_000))),
    orders=st.lists(order_drafts(), min_size=1, max_size=3),
    max_levels=st.integers(1, 3),
    seed=st.integers(0, 10**6),
)
def test_the_engine_pays_what_the_reference_model_pays(
    depth, with_orgs, bonus, drafts, periodic, orders, max_levels, seed
):
    with override_settings(
        COMMISSION_MAX_LEVELS=max_levels, COMMISSION_FREEZE_DAYS=0, COMMISSION_CAP_PERCENT=CAP
    ):
        _check(depth, with_orgs, bonus, drafts, periodic, orders, max_levels, seed)


def _check(depth, with_orgs, bonus, drafts, periodic, orders, max_levels, seed):
    # --- the world, in the database ---------------------------------------------------------------
    month = next(_months)
    start = timezone.make_aware(datetime(2031 + month // 12, month % 12 + 1, 1))
    brands, categories, products, paths = _catalogue()
    branch = agency = None
    if with_orgs:
        branch = make_branch()
        agency = make_agency(branch=branch)
    chain = [make_individual(parent=agency, role="leader")]
    for _ in range(depth):
        chain.append(make_individual(parent=chain[-1]))
    seller = chain[-1]
    if bonus:
        level = LevelFactory(rank=50 if bonus == Decimal("1.5") else 51, commission_bonus_percent=bonus)
        type(seller).objects.filter(pk=seller.pk).update(level=level)
    parent_id = chain[-2].pk if len(chain) > 1 else (agency.pk if agency else 999_999)
    names = {"seller": seller.pk, "parent": parent_id, "nobody": 999_998}
    week = start + timedelta(days=7)
    spans = {"none": (None, None), "first_week": (start, week), "after_first_week": (week, None)}
    scope_ids = {
        None: None,
        **{k: b.pk for k, b in brands.items()},
        **{k: c.pk for k, c in categories.items()},
        **{k: p.pk for k, p in products.items()},
    }
    rule_set = RuleSet.objects.create(
        name="参照",
        version=next(_ids) + 5000,
        status="active",
        effective_from=start,
        # to the next month's first instant: the next example's set starts there, and activated sets
        # never overlap (an order is paid by the one set in force)
        effective_to=timezone.make_aware(datetime(2031 + (month + 1) // 12, (month + 1) % 12 + 1, 1)),
    )
    ref_rules = []
    for i, d in enumerate(drafts):
        valid_from, valid_to = spans[d["window"]]
        per_unit = d["basis"] == "per_unit"
        rule = Rule.objects.create(
            rule_set=rule_set,
            name=f"r{i}",
            kind=d["kind"],
            level=d["level"],
            basis=d["basis"],
            rate_percent=None if per_unit or d["kind"] == "tier" else d["rate"],
            amount_fen=d["amount"] if per_unit else None,
            scope=d["scope"],
            scope_id=scope_ids[d["scope_ref"]],
            product_ids=sorted(products[p].pk for p in d["products"]),
            koc_ids=sorted(names[k] for k in d["kocs"]),
            valid_from=valid_from,
            valid_to=valid_to,
            beneficiary_role=d["role"],
        )
        ref_rules.append(
            ref.RefRule(
                id=rule.pk,
                kind=rule.kind,
                level=rule.level,
                basis=rule.basis,
                rate=Decimal(rule.rate_percent) if rule.rate_percent is not None else None,
                amount=rule.amount_fen,
                scope=rule.scope,
                scope_id=rule.scope_id,
                products=tuple(rule.product_ids),
                kocs=tuple(rule.koc_ids),
                start=valid_from,
                end=valid_to,
                role=rule.beneficiary_role,
            )
        )
    periodic_rule = None
    if periodic is not None:
        target, reward = periodic
        periodic_rule = Rule.objects.create(
            rule_set=rule_set,
            name="月度",
            kind="periodic",
            period="month",
            measure="own",
            metric="amount",
            target=target,
            amount_fen=reward,
        )

    # --- the orders and their events ---------------------------------------------------------------
    ref_people = [ref.RefPerson(k.pk, False, k.role) for k in reversed(chain[:-1])]
    if with_orgs:
        ref_people += [ref.RefPerson(agency.pk, True, "agency"), ref.RefPerson(branch.pk, True, "branch")]
    ref_seller = ref.RefPerson(seller.pk, False, seller.role, bonus)
    events, expected, periodic_sales = [], {}, Fraction(0)
    for draft in orders:
        order_id = next(_ids) + 9_000_000
        paid_at = start + timedelta(days=draft["day"], hours=3)
        items, ref_lines = [], []
        for key, quantity, price in draft["lines"]:
            product = products[key]
            item_id = next(_ids) + 9_500_000
            items.append(
                {
                    "item_id": item_id,
                    "sku_id": item_id,
                    "product_id": product.pk,
                    "brand_id": product.brand_id,
                    "category_id": product.category_id,
                    "quantity": quantity,
                    "price_fen": price,
                    "line_fen": quantity * price,
                    "price_source": "list",
                }
            )
            ref_lines.append(
                ref.RefLine(
                    item_id,
                    product.pk,
                    product.brand_id,
                    paths[{"P1": "C1", "P2": "C0", "P3": "C2"}[key]],
                    quantity,
                    quantity * price,
                )
            )
        total = sum(i["line_fen"] for i in items)
        paid_fen = total - draft["discount"]
        payload = {
            "order_id": order_id,
            "order_no": f"R{order_id}",
            "buyer_id": 1,
            "paid_fen": paid_fen,
            "total_fen": total,
            "paid_at": paid_at.isoformat(),
            "kind": "standard",
            "group_id": None,
            "attributed_koc_id": seller.pk,
            "share_link_id": None,
            "attribution": {"koc_id": seller.pk, "self_purchase": draft["self_purchase"]},
            "items": items,
        }
        events.append((accrual.order_paid_record, payload))
        events.append(
            (
                accrual.order_completed_record,
                {**payload, "completed_at": (paid_at + timedelta(hours=1)).isoformat(), "refunded_fen": 0},
            )
        )
        # refunds as the shop makes them: lines priced by their telescoping share, amounts of what is left
        bases = ref.largest_remainder(paid_fen, [Decimal(i["line_fen"]) for i in items])
        state = ref.RefRefunds()
        for n, (what, a, b) in enumerate(draft["refunds"]):
            left = paid_fen - state.refunded
            if left <= 0:
                break
            own_items = []
            if what == "line":
                index = a % len(items)
                item = items[index]
                before = state.units.get(item["item_id"], 0)
                units = min(b, item["quantity"] - before)
                if units <= 0:
                    continue
                amount = _pro_rata(bases[index], before + units, item["quantity"]) - _pro_rata(
                    bases[index], before, item["quantity"]
                )
                if amount <= 0 or amount > left:
                    continue
                state.units[item["item_id"]] = before + units
                state.by_lines += amount
                own_items = [
                    {
                        "item_id": item["item_id"],
                        "sku_id": item["item_id"],
                        "quantity": units,
                        "amount_fen": amount,
                    }
                ]
            else:
                amount = max(1, left * a // 100)
            state.refunded += amount
            events.append(
                (
                    accrual.order_refunded_record,
                    {
                        "order_id": order_id,
                        "order_no": payload["order_no"],
                        "refund_id": order_id * 10 + n,
                        "amount_fen": amount,
                        "refunded_fen": state.refunded,
                        "paid_fen": paid_fen,
                        "fully_refunded": state.refunded >= paid_fen,
                        "refunded_at": (paid_at + timedelta(hours=2 + n)).isoformat(),
                        "buyer_id": 1,
                        "group_id": None,
                        "attributed_koc_id": seller.pk,
                        "items": own_items,
                        "refunded_items": [
                            {"item_id": i, "quantity": q} for i, q in sorted(state.units.items())
                        ],
                        "refunded_lines_fen": state.by_lines,
                    },
                )
            )
        ref_order = ref.RefOrder(paid_fen, paid_at, ref_lines, ref_seller, ref_people, draft["self_purchase"])
        found, cap_fen = ref.commissions(
            ref_order,
            ref_rules,
            brand_max={b.pk: b.max_commission_rate for b in brands.values()},
            cap=CAP,
            max_levels=max_levels,
        )
        kept = ref.kept(found, ref_order, state, cap_fen)
        expected[order_id] = sorted(
            (c.koc, c.kind, c.level, c.amount, c.amount - k) for c, k in zip(found, kept, strict=True)
        )
        if periodic_rule is not None:
            rule = ref.RefRule(id=periodic_rule.pk, kind="periodic")
            periodic_sales += ref.net_sales(ref_order, state, rule, seller.pk)

    random.Random(seed).shuffle(events)
    for handler, event in events:
        handler(payload=event)
    settle_commissions(now=start + timedelta(days=45))

    # --- the same money ------------------------------------------------------------------------------
    for order_id, wanted in expected.items():
        got = sorted(
            (c.koc_id, c.kind, c.level, c.amount_fen, c.reversed_fen)
            for c in Commission.objects.filter(order_id=order_id)
        )
        assert got == wanted
    if periodic_rule is not None:
        net = math.floor(periodic_sales)
        met = net >= periodic_rule.target and net > 0
        rewards = list(
            Commission.objects.filter(rule=periodic_rule).values_list("koc_id", "amount_fen", "reversed_fen")
        )
        assert rewards == ([(seller.pk, periodic_rule.amount_fen, 0)] if met else [])
