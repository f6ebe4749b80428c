"""Property tests of the pure engine over random trees, rule sets and orders (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.commissions.engine import (
    HARD_MAX_LEVELS,
    Item,
    Node,
    OrderInput,
    PlanSpec,
    RefundState,
    RuleSpec,
    cap_fen_of,
    compute,
    kept_fen,
)
from apps.core.money import allocate_fen, round_fen

PAID_AT = datetime(2030, 3, 1, 10, tzinfo=UTC)
PRODUCTS = {1: (10, 100), 2: (10, 101), 3: (20, 100), 4: (30, 102)}  # product -> (brand, category)
CATEGORY_PARENT = {100: 1000, 101: 1000, 102: None, 1000: None}
PROPERTY = settings(max_examples=60, deadline=None)

percents = st.decimals(min_value=0, max_value=60, places=2)


def category_path(category: int) -> tuple[int, ...]:
    path = [category]
    while CATEGORY_PARENT.get(path[-1]):
        path.append(CATEGORY_PARENT[path[-1]])
    return tuple(path)


@st.composite
def nodes(draw, *, organisation: bool = False) -> Node:
    return Node(
        koc_id=draw(st.integers(1, 10_000)),
        role=draw(st.sampled_from(["branch", "agency"]))
        if organisation
        else draw(st.sampled_from(["leader", "koc"])),
        is_organisation=organisation,
        approved=draw(st.booleans() | st.just(True)),
        bonus_percent=Decimal(0)
        if organisation
        else draw(st.sampled_from([Decimal(0), Decimal("1.5"), Decimal(5)])),
    )


@st.composite
def scopes(draw) -> tuple[str, int | None]:
    scope = draw(st.sampled_from(["all", "brand", "category", "product"]))
    ids = {
        "all": [None],
        "brand": [10, 20, 30, 99],
        "category": [100, 101, 102, 1000],
        "product": [1, 2, 3, 4],
    }
    return scope, draw(st.sampled_from(ids[scope]))


@st.composite
def rules(draw, rule_id: int) -> RuleSpec:
    kind = draw(st.sampled_from(["sales", "sales", "sales", "team", "targeted", "tier"]))
    scope, scope_id = draw(scopes())
    basis = (
        draw(st.sampled_from(["percent", "percent", "per_unit"]))
        if kind in ("sales", "targeted")
        else "percent"
    )
    window = draw(
        st.sampled_from(
            [
                (None, None),
                (PAID_AT - timedelta(days=1), PAID_AT + timedelta(days=1)),
                (PAID_AT + timedelta(days=1), None),
            ]
        )
    )
    return RuleSpec(
        id=rule_id,
        kind=kind,
        name=f"r{rule_id}",
        level=draw(st.integers(0, 4)) if kind == "sales" else 0,
        basis=basis,
        rate_percent=draw(percents),
        amount_fen=draw(st.integers(1, 3000)),
        scope=scope,
        scope_id=scope_id,
        product_ids=frozenset(draw(st.sets(st.sampled_from(list(PRODUCTS)), max_size=2))),
        koc_ids=frozenset(draw(st.sets(st.integers(1, 10_000), max_size=2))),
        valid_from=window[0],
        valid_to=window[1],
        beneficiary_role=draw(st.sampled_from(["", "agency", "branch"])),
    )


@st.composite
def plans(draw) -> PlanSpec:
    count = draw(st.integers(0, 8))
    return PlanSpec(rule_set_id=1, version=1, name="p", rules=tuple(draw(rules(i + 1)) for i in range(count)))


@st.composite
def orders(draw) -> OrderInput:
    items = []
    for index in range(draw(st.integers(1, 4))):
        product = draw(st.sampled_from(list(PRODUCTS)))
        brand, category = PRODUCTS[product]
        quantity = draw(st.integers(1, 5))
        price = draw(st.integers(0, 50_000))
        items.append(Item(index + 1, product, brand, category_path(category), quantity, quantity * price))
    total = sum(i.line_fen for i in items)
    paid = draw(st.integers(0, total)) if total else 0
    seller = draw(st.none() | nodes() | nodes(organisation=True))
    uplines = tuple(draw(st.lists(nodes(), max_size=4)))
    organisations = tuple(draw(st.lists(nodes(organisation=True), max_size=2)))
    return OrderInput(
        order_id=1,
        order_no="2030000000001",
        paid_fen=paid,
        total_fen=total,
        paid_at=PAID_AT,
        items=tuple(items),
        seller=seller,
        self_purchase=draw(st.booleans()),
        uplines=uplines,
        organisations=organisations,
    )


brand_caps = st.fixed_dictionaries({b: percents for b in (10, 20, 30)})


@PROPERTY
@given(order=orders(), plan=plans(), brand_max=brand_caps, cap=percents, max_levels=st.integers(0, 6))
def test_parts_are_positive_capped_and_within_the_level_limit(order, plan, brand_max, cap, max_levels):
    outcome = compute(order, plan, brand_max=brand_max, cap_percent=cap, max_levels=max_levels)

    assert outcome.cap_fen == cap_fen_of(order.paid_fen, cap)
    assert 0 <= outcome.total_fen <= outcome.cap_fen
    assert all(p.amount_fen > 0 for p in outcome.parts)
    allowed = min(max_levels, HARD_MAX_LEVELS)
    for part in outcome.parts:
        if part.is_organisation:
            assert part.kind in ("team", "direct", "targeted", "tier")  # an organisation seller sells too
        else:
            assert part.kind != "team"
            assert part.level is not None and part.level < allowed
    uplines = {n.koc_id for n in order.uplines}
    for part in outcome.parts:
        if part.kind == "upline":
            assert part.koc_id in uplines
    # One beneficiary never earns above its brand caps on the items (plus half a fen per rounded part).
    per_koc: dict[int, int] = {}
    for part in outcome.parts:
        per_koc[part.koc_id] = per_koc.get(part.koc_id, 0) + part.amount_fen
    bases = allocate_fen(order.paid_fen, [i.line_fen for i in order.items])
    ceiling = sum(Decimal(b) * brand_max[i.brand_id] / 100 for i, b in zip(order.items, bases, strict=True))
    for koc_id, amount in per_koc.items():
        parts = sum(1 for p in outcome.parts if p.koc_id == koc_id)
        # The same id may appear as seller and upline in random trees: bound by the count of roles it holds.
        roles = (
            1
            + sum(1 for n in order.uplines if n.koc_id == koc_id)
            + sum(1 for n in order.organisations if n.koc_id == koc_id)
        )
        assert amount <= ceiling * roles + Decimal(parts) / 2


@PROPERTY
@given(order=orders(), plan=plans(), brand_max=brand_caps, cap=percents, max_levels=st.integers(0, 6))
def test_no_commission_without_attribution_or_on_a_self_purchase(order, plan, brand_max, cap, max_levels):
    outcome = compute(order, plan, brand_max=brand_max, cap_percent=cap, max_levels=max_levels)

    if order.seller is None or order.self_purchase or not order.seller.approved or order.paid_fen == 0:
        assert outcome.parts == ()
    assert outcome == compute(order, plan, brand_max=brand_max, cap_percent=cap, max_levels=max_levels)


@PROPERTY
@given(
    paid=st.integers(1, 10_000_000),
    rates=st.lists(st.decimals(min_value=Decimal("0.01"), max_value=20, places=2), min_size=1, max_size=3),
)
def test_without_caps_each_part_is_its_rate_rounded_half_up_once(paid, rates):
    item = Item(1, 1, 10, (100,), 1, paid)
    seller = Node(1)
    uplines = tuple(Node(i + 2) for i in range(len(rates) - 1))
    plan = PlanSpec(
        1,
        1,
        "p",
        tuple(RuleSpec(id=i + 1, kind="sales", level=i, rate_percent=r) for i, r in enumerate(rates)),
    )
    order = OrderInput(1, "n", paid, paid, PAID_AT, (item,), seller, False, uplines, ())

    outcome = compute(order, plan, brand_max={10: Decimal(100)}, cap_percent=Decimal(100), max_levels=3)

    assert [p.amount_fen for p in outcome.parts] == [
        x for x in (round_fen(Decimal(paid) * r / 100) for r in rates) if x > 0
    ]


@PROPERTY
@given(
    paid=st.integers(100, 5_000_000),
    rates=st.lists(st.decimals(min_value=6, max_value=30, places=2), min_size=2, max_size=3),
)
def test_over_the_cap_the_parts_sum_to_the_cap_exactly(paid, rates):
    item = Item(1, 1, 10, (100,), 1, paid)
    plan = PlanSpec(
        1,
        1,
        "p",
        tuple(RuleSpec(id=i + 1, kind="sales", level=i, rate_percent=r) for i, r in enumerate(rates)),
    )
    order = OrderInput(
        1, "n", paid, paid, PAID_AT, (item,), Node(1), False, tuple(Node(i + 2) for i in range(3)), ()
    )

    outcome = compute(order, plan, brand_max={10: Decimal(100)}, cap_percent=Decimal(10), max_levels=3)

    assert outcome.scaled_to_cap
    assert outcome.total_fen == cap_fen_of(paid, Decimal(10))


@PROPERTY
@given(commission=st.integers(1, 1_000_000), paid=st.integers(1, 10_000_000), data=st.data())
def test_amount_refunds_keep_the_floor_of_the_pro_rata_share_and_nothing_when_all_is_refunded(
    commission, paid, data
):
    refunds = data.draw(st.lists(st.integers(1, paid), max_size=6))
    lines = ((1, commission),)
    cumulative, reversed_total = 0, 0
    kept_before = kept_fen(lines=lines, quantities={1: 1}, state=RefundState(), paid_fen=paid)
    assert kept_before == commission
    for amount in refunds:
        amount = min(amount, paid - cumulative)
        if amount <= 0:
            break
        cumulative += amount
        kept = kept_fen(
            lines=lines, quantities={1: 1}, state=RefundState(refunded_fen=cumulative), paid_fen=paid
        )
        assert 0 <= kept <= kept_before  # a refund never gives commission back
        reversed_total += kept_before - kept
        kept_before = kept
        # what is kept is the pro-rata share of what is still paid, rounded down (never above it)
        assert kept == commission * (paid - cumulative) // paid
    final = kept_fen(lines=lines, quantities={1: 1}, state=RefundState(refunded_fen=paid), paid_fen=paid)
    assert final == 0
    assert reversed_total + kept_before - final == commission


@PROPERTY
@given(total=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_allocate_fen_splits_exactly(total, weights):
    parts = allocate_fen(total, weights)
    if sum(weights) == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / sum(weights)
        assert exact - 1 < part < exact + 1
