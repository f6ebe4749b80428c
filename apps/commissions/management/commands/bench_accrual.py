"""Benchmark of commission accrual (order_paid) against a commit-per-order baseline, in one run.

Not a test: it writes real (append-only) ledger rows, so it refuses to run without --yes; point it at
a throwaway PostgreSQL database (see bench_settlement). Usage:
    python manage.py bench_accrual --orders 2000 --yes

The project: accrual.order_paid_record for each synthetic order (bench_settlement's team, product and
plan), each its own transaction, as the outbox delivers it. The baseline: for the same orders, one
transaction per order that writes the very rows the project wrote for it (the order fact, its
commissions, their ledger entries; under the negative of its order id, keys renamed) with three
plain INSERTs and a COMMIT - no rules, no tree, no engine: what the database alone costs for the
same writes. The two run alternately, chunk by chunk, so a noisy shared machine slows both alike;
the ratio is what counts.
"""

from __future__ import annotations

import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from apps.commissions.models import Commission, LedgerEntry, OrderFact
from apps.commissions.services import accrual

from .bench_settlement import bench_payloads, bench_plan, bench_world


class Command(BaseCommand):
    help = (
        "Time accrual (order_paid) against a commit-per-order baseline writing the same rows (needs --yes)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=2000)
        parser.add_argument("--chunk", type=int, default=100, help="orders per alternation")
        parser.add_argument("--kocs", type=int, default=50, help="KOCs in the generated team")
        parser.add_argument("--yes", action="store_true", help="I know this writes to the current database")

    def handle(self, *args, orders: int, chunk: int, kocs: int, yes: bool, **options):
        if not yes:
            raise CommandError(
                "this writes append-only ledger rows to the current database: rerun with --yes"
            )
        if connection.vendor != "postgresql":
            self.stderr.write("warning: not PostgreSQL - the figures will not mean much")
        sellers, product = bench_world(kocs)
        bench_plan()
        _base, payloads = bench_payloads(
            orders, sellers, product, start=timezone.now(), rng=random.Random(20260101)
        )
        queries = {"n": 0}

        def counter(execute, sql, params, many, context):
            queries["n"] += 1
            return execute(sql, params, many, context)

        project_s = baseline_s = 0.0
        commissions = entries = 0
        for at in range(0, orders, max(1, chunk)):
            part = payloads[at : at + chunk]
            with connection.execute_wrapper(counter):
                began = time.perf_counter()
                for payload in part:
                    accrual.order_paid_record(payload=payload)
                project_s += time.perf_counter() - began
            rows = _rows_of([p["order_id"] for p in part])
            commissions += sum(len(c) for _f, c in rows)
            entries += sum(len(c) for _f, c in rows)
            began = time.perf_counter()
            _baseline(rows)
            baseline_s += time.perf_counter() - began

        project_rate = orders / project_s if project_s else float("inf")
        baseline_rate = orders / baseline_s if baseline_s else float("inf")
        self.stdout.write(
            f"orders: {orders} ({commissions} commissions, {entries} ledger entries), chunk {chunk}"
        )
        self.stdout.write(
            f"project  (order_paid_record)       {project_s:8.2f} s  {project_rate:9.1f} orders/s  "
            f"{queries['n'] / max(1, orders):5.2f} queries/order"
        )
        self.stdout.write(
            f"baseline (commit per order, same rows) {baseline_s:8.2f} s  {baseline_rate:9.1f} orders/s"
        )
        self.stdout.write(f"ratio project/baseline: {project_rate / baseline_rate:.2f}")


def _rows_of(order_ids: list[int]) -> list[tuple[list, list[list]]]:
    """For each order: (the fact's column values, [(commission values, its entry's values)...]),
    as the project wrote them, under the baseline's (negative) order ids (read before the clock starts)."""
    fact_fields = [f for f in OrderFact._meta.concrete_fields if not f.primary_key]
    commission_fields = [f for f in Commission._meta.concrete_fields if not f.primary_key]
    facts = {f.order_id: f for f in OrderFact.objects.filter(order_id__in=order_ids)}
    by_order: dict[int, list[Commission]] = {}
    for commission in Commission.objects.filter(order_id__in=order_ids).order_by("pk"):
        by_order.setdefault(commission.order_id, []).append(commission)
    entry_of = {
        e.commission_id: e for e in LedgerEntry.objects.filter(order_id__in=order_ids, kind="accrual")
    }
    out = []
    for order_id in order_ids:
        fact = facts[order_id]
        fact.order_id = -fact.order_id
        fact_values = [f.get_db_prep_save(getattr(fact, f.attname), connection) for f in fact_fields]
        rows = []
        for commission in by_order.get(order_id, []):
            entry = entry_of[commission.pk]
            commission.key = f"b:{commission.key}"
            commission.order_id = -commission.order_id
            entry.order_id = -entry.order_id
            rows.append(
                (
                    [
                        f.get_db_prep_save(getattr(commission, f.attname), connection)
                        for f in commission_fields
                    ],
                    entry,
                )
            )
        out.append((fact_values, rows))
    return out


def _baseline(rows) -> None:
    """One transaction per order: INSERT the fact, INSERT its commissions RETURNING ids, INSERT
    their entries, COMMIT."""
    qn = connection.ops.quote_name

    def insert(model, width: int, count: int, returning: str = "") -> str:
        columns = ", ".join(qn(f.column) for f in model._meta.concrete_fields if not f.primary_key)
        one = "(" + ", ".join(["%s"] * width) + ")"
        tail = f" RETURNING {returning}" if returning else ""
        return f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES {', '.join([one] * count)}{tail}"  # noqa: S608

    entry_fields = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
    fact_sql = insert(OrderFact, len(rows[0][0]) if rows else 0, 1)
    for fact_values, commission_rows in rows:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(fact_sql, fact_values)
            if not commission_rows:
                continue
            width = len(commission_rows[0][0])
            cursor.execute(
                insert(Commission, width, len(commission_rows), returning="id"),
                [v for values, _e in commission_rows for v in values],
            )
            ids = [row[0] for row in cursor.fetchall()]
            params = []
            for commission_id, (_values, entry) in zip(ids, commission_rows, strict=True):
                entry.commission_id = commission_id
                entry.key = f"c:{commission_id}:accrue"
                params += [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in entry_fields]
            cursor.execute(insert(LedgerEntry, len(entry_fields), len(commission_rows)), params)
