"""Benchmark of the monthly withholding list over N people: writes CSV and Excel files, prints rows/s.

Not a test. It creates N synthetic tax records (one per person, in January 1990, a month no real
payout has) inside a transaction that it rolls back at the end, so the database is left as it was;
still, point it at a throwaway database:
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/taxbench
    python manage.py migrate && python manage.py bench_tax_reports --people 100000
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.commissions import reports
from apps.commissions.models import TaxRecord
from apps.kocs.identity import with_check

MONTH = date(1990, 1, 1)


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time the monthly withholding list (CSV and Excel) over N synthetic people; rolls back."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=100_000)

    def handle(self, *args, people: int, **options):
        try:
            with transaction.atomic():
                self._run(people)
                raise Rollback
        except Rollback:
            self.stdout.write("rolled back: nothing written")

    def _run(self, people: int) -> None:
        started = time.monotonic()
        batch = []
        for i in range(people):
            batch.append(
                TaxRecord(
                    koc_id=8_000_000_000 + i,
                    withdrawal=None,
                    month=MONTH,
                    run_start=MONTH,
                    months=1,
                    income_fen=3_000_000,
                    withheld_fen=57_000,
                    cum_income_fen=3_000_000,
                    cum_expense_fen=600_000,
                    cum_basic_deduction_fen=500_000,
                    cum_taxable_fen=1_900_000,
                    rate_percent=3,
                    quick_deduction_fen=0,
                    cum_tax_fen=57_000,
                    cum_withheld_fen=57_000,
                    real_name="压测",
                    id_number=with_check(f"110105{1950 + i % 50}0101{i % 1000:03d}"),
                )
            )
            if len(batch) == 5000:
                TaxRecord.objects.bulk_create(batch)
                batch = []
        TaxRecord.objects.bulk_create(batch)
        self.stdout.write(f"seeded {people} records in {time.monotonic() - started:.1f}s")
        with tempfile.TemporaryDirectory() as folder:
            for fmt in ("csv", "xlsx"):
                path = Path(folder) / f"list.{fmt}"
                started = time.monotonic()
                rows = reports.write(
                    reports.withholding_list(MONTH), path=str(path), fmt=fmt, stream=self.stderr
                )
                took = time.monotonic() - started
                size = path.stat().st_size / 1e6
                self.stdout.write(
                    f"{fmt}: {rows} people in {took:.1f}s ({rows / took:,.0f}/s), {size:.1f} MB"
                )
