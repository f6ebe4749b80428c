"""Benchmark of the engine on the current database: accrual, completion and settlement of N orders.

Not a test: it writes real (append-only) ledger rows, so it refuses to run without --yes; point it at
a throwaway PostgreSQL database, e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/commbench python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/commbench \\
        python manage.py bench_settlement --orders 5000 --yes

The orders are fed to the engine exactly as the outbox delivers the shop's events: one order_paid and
one order_completed call per order, each its own transaction, then settle_commissions in batches.
Their payloads are synthetic (the engine never reads the shop's order rows), attributed to KOCs of
a generated team (branch -> agency -> leader -> KOCs -> KOCs) under the demo plan (10% + 3%).
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from apps.commissions.models import Commission, LedgerEntry, Rule, RuleSet
from apps.commissions.services import accrual
from apps.commissions.services import rules as rule_services
from apps.commissions.services.settlement import settle_commissions


class Command(BaseCommand):
    help = (
        "Time accrual and settle_commissions over N synthetic attributed orders (writes data: needs --yes)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=1000)
        parser.add_argument("--kocs", type=int, default=50, help="KOCs in the generated team")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--yes", action="store_true", help="I know this writes to the current database")

    def handle(self, *args, orders: int, kocs: int, batch_size: int, yes: bool, **options):
        if not yes:
            raise CommandError(
                "this writes append-only ledger rows to the current database: rerun with --yes"
            )
        if connection.vendor != "postgresql":
            self.stderr.write("warning: not PostgreSQL - the figures will not mean much")
        rng = random.Random(20260101)
        sellers, product = bench_world(kocs)
        bench_plan()
        start = timezone.now()
        base_id, payloads = bench_payloads(orders, sellers, product, start=start, rng=rng)

        self.stdout.write(f"database: {connection.vendor} {settings.DATABASES['default'].get('NAME')}")
        self.stdout.write(f"orders: {orders}, KOCs: {len(sellers)}, batch size: {batch_size}")
        entries_before = LedgerEntry.objects.count()

        def phase(label, fn):
            # Counts every statement (BEGIN/COMMIT/SAVEPOINT included) without keeping them all in
            # memory as CaptureQueriesContext would (it stops at 9,000).
            count = {"n": 0}

            def counter(execute, sql, params, many, context):
                count["n"] += 1
                return execute(sql, params, many, context)

            with connection.execute_wrapper(counter):
                began = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - began
            rate = orders / elapsed if elapsed else float("inf")
            per_order = count["n"] / orders
            self.stdout.write(
                f"{label:<12} {elapsed:8.2f} s  {rate:9.1f} orders/s  {per_order:7.2f} queries/order"
            )
            return elapsed, count["n"]

        with override_settings(COMMISSION_FREEZE_DAYS=0):
            paid = phase("order_paid", lambda: [accrual.order_paid_record(payload=p) for p in payloads])
            done = phase(
                "completed",
                lambda: [
                    accrual.order_completed_record(
                        payload={**p, "completed_at": p["paid_at"], "refunded_fen": 0}
                    )
                    for p in payloads
                ],
            )
            settled = phase(
                "settle",
                lambda: settle_commissions(now=start + timedelta(seconds=orders + 1), batch_size=batch_size),
            )
        total_time = paid[0] + done[0] + settled[0]
        total_queries = paid[1] + done[1] + settled[1]
        self.stdout.write(
            f"{'end to end':<12} {total_time:8.2f} s  {orders / total_time:9.1f} orders/s  "
            f"{total_queries / orders:7.2f} queries/order"
        )
        commissions = Commission.objects.filter(order_id__gte=base_id, order_id__lt=base_id + orders)
        self.stdout.write(
            f"wrote {LedgerEntry.objects.count() - entries_before} ledger entries for "
            f"{commissions.count()} commissions; available now: "
            f"{commissions.filter(status='available').count()}"
        )


def bench_world(kocs: int):
    from apps.kocs.models import Koc
    from apps.kocs.services import koc_create
    from apps.shop.models import Brand, Category, Product, Sku

    tag = f"{int(time.time())}"
    branch = koc_create(role=Koc.Role.BRANCH, legal_name=f"压测分公司{tag}")
    agency = koc_create(role=Koc.Role.AGENCY, parent=branch, legal_name=f"压测机构{tag}")
    leader = koc_create(role=Koc.Role.LEADER, parent=agency, real_name="压测团长")
    sellers = [leader]
    for i in range(max(1, kocs - 1)):
        parent = sellers[i // 3]  # a bushy tree: each node recruits three
        sellers.append(koc_create(role=Koc.Role.KOC, parent=parent, real_name="压测"))
    brand = Brand.objects.create(name=f"压测品牌{tag}", max_commission_rate=Decimal("30"))
    category = Category.objects.create(name=f"压测类目{tag}")
    product = Product.objects.create(brand=brand, category=category, title="压测商品")
    Sku.objects.create(product=product, spec="1", price_fen=9900, stock=10**6)
    return sellers, product


def bench_plan():
    now = timezone.now()
    in_force = RuleSet.objects.filter(
        status=RuleSet.Status.ACTIVE, effective_from__lte=now, effective_to__isnull=True
    ).exists()
    if in_force:
        return
    # From now: activation is never in the past (orders paid before it would change their rules).
    rule_set = rule_services.ruleset_create(name="压测方案", effective_from=now)
    rule_services.rule_add(
        rule_set=rule_set, name="直推", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("10")
    )
    rule_services.rule_add(
        rule_set=rule_set, name="上级", kind=Rule.Kind.SALES, level=1, rate_percent=Decimal("3")
    )
    rule_services.ruleset_activate(rule_set=rule_set)


def bench_payloads(orders: int, sellers, product, *, start, rng, base_id: int | None = None):
    """(the first order id, N synthetic order_paid payloads): one line each, random quantity/price."""
    if base_id is None:
        base_id = 9_000_000_000 + int(time.time() * 1000) % 1_000_000_000 * 10
    payloads = []
    for i in range(orders):
        quantity = rng.randint(1, 3)
        price = rng.choice([990, 4900, 9900, 19900])
        order_id = base_id + i
        line = {
            "item_id": order_id,
            "sku_id": 0,
            "product_id": product.pk,
            "brand_id": product.brand_id,
            "category_id": product.category_id,
            "quantity": quantity,
            "price_fen": price,
            "line_fen": quantity * price,
            "price_source": "list",
        }
        seller = rng.choice(sellers)
        payloads.append(
            {
                "order_id": order_id,
                "order_no": f"B{order_id}",
                "buyer_id": None,
                "paid_fen": quantity * price,
                "total_fen": quantity * price,
                "paid_at": (start + timedelta(seconds=i)).isoformat(),
                "kind": "standard",
                "group_id": None,
                "attributed_koc_id": seller.pk,
                "share_link_id": None,
                "attribution": {"koc_id": seller.pk, "self_purchase": False},
                "items": [line],
            }
        )
    return base_id, payloads
