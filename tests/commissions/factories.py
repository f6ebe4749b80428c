"""Commission test data: a team, rule sets through the services, and order events as the shop sends them."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.commissions.models import Rule, RuleSet
from apps.commissions.services import accrual
from apps.commissions.services import rules as rule_services
from tests.kocs.factories import make_agency, make_branch, make_individual
from tests.shop.factories import BrandFactory, CategoryFactory, ProductFactory, SkuFactory

_ids = itertools.count(1)
# After any test creates its team (parent history starts "now"): orders are paid by the tree of their date.
EPOCH = datetime(2030, 3, 1, 10, 0)


def at(days: float = 0, base: datetime = EPOCH) -> datetime:
    return timezone.make_aware(base) + timedelta(days=days)


def make_team():
    """branch -> agency -> leader (lily) -> KOC (mia) -> KOC (ava): the demo shape, one level deeper."""
    from apps.kocs.models import Koc

    branch = make_branch()
    agency = make_agency(branch=branch)
    lily = make_individual(parent=agency, role=Koc.Role.LEADER, real_name="李莉")
    mia = make_individual(parent=lily, real_name="米娅")
    ava = make_individual(parent=mia, real_name="艾娃")
    return {"branch": branch, "agency": agency, "lily": lily, "mia": mia, "ava": ava}


def make_product(*, price_fen: int = 9900, brand=None, category=None, max_rate: str = "30.00"):
    brand = brand or BrandFactory(max_commission_rate=Decimal(max_rate))
    product = ProductFactory(brand=brand, category=category or CategoryFactory())
    SkuFactory(product=product, price_fen=price_fen)
    return product


def make_plan(
    *rules: dict[str, Any],
    name: str = "测试方案",
    effective_from: datetime | None = None,
    effective_to: datetime | None = None,
) -> RuleSet:
    rule_set = rule_services.ruleset_create(
        name=name,
        effective_from=effective_from or timezone.make_aware(datetime(2020, 1, 1)),
        effective_to=effective_to,
    )
    for fields in rules:
        rule_services.rule_add(rule_set=rule_set, **{"name": fields.get("kind", "sales"), **fields})
    # The tests' world: the set was activated at its start (activation never reaches into the past).
    return rule_services.ruleset_activate(rule_set=rule_set, now=rule_set.effective_from)


def demo_plan(**kwargs) -> RuleSet:
    return make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10"), "name": "直推"},
        {"kind": Rule.Kind.SALES, "level": 1, "rate_percent": Decimal("3"), "name": "上级"},
        **kwargs,
    )


def order_payload(
    *,
    koc=None,
    lines: list[tuple[Any, int, int]] | None = None,
    paid_at: datetime | None = None,
    paid_fen: int | None = None,
    self_purchase: bool = False,
    order_id: int | None = None,
    buyer_id: int = 1,
) -> dict[str, Any]:
    """An order_paid payload. lines: (product, quantity, price_fen)."""
    order_id = order_id or next(_ids) + 5_000_000
    items = []
    for product, quantity, price in lines or []:
        item_id = next(_ids) + 7_000_000
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
    total = sum(i["line_fen"] for i in items)
    paid_at = paid_at or at()
    return {
        "order_id": order_id,
        "order_no": f"2026{order_id:012d}",
        "buyer_id": buyer_id,
        "paid_fen": total if paid_fen is None else paid_fen,
        "total_fen": total,
        "paid_at": paid_at.isoformat(),
        "kind": "standard",
        "group_id": None,
        "attributed_koc_id": koc.pk if koc is not None else None,
        "share_link_id": None,
        "attribution": {"koc_id": koc.pk, "self_purchase": self_purchase} if koc is not None else {},
        "items": items,
    }


def completed_payload(
    paid: dict[str, Any], *, completed_at: datetime | None = None, refunded_fen: int = 0
) -> dict:
    return {**paid, "completed_at": (completed_at or at(1)).isoformat(), "refunded_fen": refunded_fen}


def refund_payload(
    paid: dict[str, Any],
    *,
    refund_id: int,
    amount_fen: int,
    refunded_fen: int,
    refunded_at: datetime | None = None,
    items: list[tuple[int, int, int]] = (),
    refunded_items: dict[int, int] | None = None,
    refunded_lines_fen: int = 0,
) -> dict:
    """An order_refunded payload; `items` are this refund's returned lines (item_id, units, fen),
    `refunded_items` and `refunded_lines_fen` the order's cumulative returns after it."""
    return {
        "order_id": paid["order_id"],
        "order_no": paid["order_no"],
        "refund_id": refund_id,
        "amount_fen": amount_fen,
        "refunded_fen": refunded_fen,
        "paid_fen": paid["paid_fen"],
        "fully_refunded": refunded_fen >= paid["paid_fen"],
        "refunded_at": (refunded_at or at(2)).isoformat(),
        "buyer_id": paid["buyer_id"],
        "group_id": None,
        "attributed_koc_id": paid["attributed_koc_id"],
        "items": [{"item_id": i, "sku_id": i, "quantity": q, "amount_fen": f} for i, q, f in items],
        "refunded_items": [{"item_id": i, "quantity": q} for i, q in sorted((refunded_items or {}).items())],
        "refunded_lines_fen": refunded_lines_fen,
    }


def paid(payload):
    return accrual.order_paid_record(payload=payload)


def completed(payload, **kwargs):
    return accrual.order_completed_record(payload=completed_payload(payload, **kwargs))


def refunded(payload, **kwargs):
    return accrual.order_refunded_record(payload=refund_payload(payload, **kwargs))


def earn_available(koc, amount_fen: int, *, when: datetime | None = None) -> dict:
    """Give `koc` exactly `amount_fen` of available commission: an order of ten times that under a
    10% plan (created if none is active), completed and settled without a freeze."""
    from django.test import override_settings

    from apps.commissions.services.settlement import settle_commissions

    if not RuleSet.objects.filter(status=RuleSet.Status.ACTIVE).exists():
        demo_plan()
    product = make_product(max_rate="30.00")
    when = when or at(0)
    with override_settings(COMMISSION_FREEZE_DAYS=0):
        order = order_payload(koc=koc, lines=[(product, 1, amount_fen * 10)], paid_at=when)
        paid(order)
        completed(order, completed_at=when)
        settle_commissions(now=when)
    return order
