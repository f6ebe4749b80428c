"""Replay orders paid in [start, end) with a draft rule set beside what was paid; no writes.

    python manage.py commission_dry_run --rule-set 7 --start 2026-03-01 --end 2026-04-01
    python manage.py commission_dry_run --rule-set 7 --start ... --end ... --benchmark

`--benchmark` measures instead of reporting: the dry run (best of `--repeat`), its queries, and the
order-by-order replay it replaced (the baseline: the tree read per order, both sides replayed), and
checks the two agree on the draft's totals.
"""

import time
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.commissions.models import OrderFact, RuleSet
from apps.commissions.plans import PlanCache, plan_spec
from apps.commissions.services.accrual import TreeReader, compute_for, order_input
from apps.commissions.services.dry_run import dry_run, koc_labels


def _instant(value: str):
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"not an ISO date or datetime: {value!r}")
        parsed = timezone.datetime(day.year, day.month, day.day)
    if parsed.tzinfo is None:
        parsed = timezone.make_aware(parsed)
    return parsed


def baseline_replay(*, rule_set, start, end) -> tuple[int, dict[int, int], dict[int, int]]:
    """The dry run as it was: every order replayed on its own (two queries for its tree), through
    the set in force and through the draft. (orders, in force per KOC, draft per KOC)."""
    draft = plan_spec(rule_set)
    plans, reader = PlanCache(), TreeReader()
    current: dict[int, int] = defaultdict(int)
    drafted: dict[int, int] = defaultdict(int)
    orders = 0
    with transaction.atomic():
        facts = (
            OrderFact.objects.filter(paid_at__gte=start, paid_at__lt=end)
            .exclude(payload={})
            .order_by("paid_at", "order_id")
        )
        for fact in facts.iterator(chunk_size=500):
            order = order_input(fact, reader=reader)
            in_force = plans.in_force(fact.paid_at)
            for part in compute_for(order, plans.spec(in_force) if in_force else None, reader=reader).parts:
                current[part.koc_id] += part.amount_fen
            for part in compute_for(order, draft, reader=reader).parts:
                drafted[part.koc_id] += part.amount_fen
            orders += 1
        transaction.set_rollback(True)
    return orders, current, drafted


class Command(BaseCommand):
    help = "Replay orders paid in [start, end) with a draft rule set beside what was paid; no writes."

    def add_arguments(self, parser):
        parser.add_argument("--rule-set", type=int, required=True, help="RuleSet id")
        parser.add_argument("--start", required=True, help="ISO date or datetime (inclusive)")
        parser.add_argument("--end", required=True, help="ISO date or datetime (exclusive)")
        parser.add_argument(
            "--kocs", type=int, default=50, help="KOCs with a difference to list (0: all) [50]"
        )
        parser.add_argument(
            "--benchmark", action="store_true", help="time the dry run against the order-by-order baseline"
        )
        parser.add_argument(
            "--repeat", type=int, default=3, help="with --benchmark: runs to take the best of"
        )

    def handle(self, *args, rule_set, start, end, kocs, benchmark, repeat, **options):
        try:
            chosen = RuleSet.objects.get(pk=rule_set)
        except RuleSet.DoesNotExist as exc:
            raise CommandError(f"no rule set {rule_set}") from exc
        start_at, end_at = _instant(start), _instant(end)
        if end_at <= start_at:
            raise CommandError("--end must be after --start")
        if benchmark:
            self._benchmark(chosen, start_at, end_at, max(1, repeat))
            return
        report = dry_run(rule_set=chosen, start=start_at, end=end_at)
        out = self.stdout
        out.write(
            f"dry run of {chosen} over {report.orders} orders paid in [{start}, {end}) "
            f"({report.orders_attributed} attributed)"
        )
        out.write(f"{'':28}{'paid':>14}{'draft':>14}")
        for label, a, b in [
            ("total fen", report.current.total_fen, report.draft.total_fen),
            ("cap fen", report.current.cap_fen, report.draft.cap_fen),
            ("headroom fen", report.current.headroom_fen, report.draft.headroom_fen),
            ("min headroom per order", report.current.min_headroom_fen, report.draft.min_headroom_fen),
            ("orders paying", report.current.orders_paying, report.draft.orders_paying),
            ("orders at the cap", report.current.orders_at_cap, report.draft.orders_at_cap),
        ]:
            out.write(f"{label:28}{a if a is not None else '-':>14}{b if b is not None else '-':>14}")
        for title, attribute in [("per level", "per_level"), ("per rule", "per_rule")]:
            out.write(f"\n{title}:")
            for label, current, draft, diff in report.rows(attribute):
                out.write(f"  {label[:40]:40}{current:>12}{draft:>12}{diff:>+12}")
        differences = report.koc_differences()
        shown = differences if kocs <= 0 else differences[:kocs]
        out.write(f"\nKOCs whose totals differ: {len(differences)} of {report.kocs_paid} paid by either")
        labels = koc_labels([d.koc_id for d in shown])
        for d in shown:
            label = labels.get(d.koc_id, f"#{d.koc_id}")
            out.write(f"  {label[:40]:40}{d.current_fen:>12}{d.draft_fen:>12}{d.difference_fen:>+12}")
        if len(shown) < len(differences):
            out.write(f"  ... {len(differences) - len(shown)} more (--kocs 0 lists them all)")

    def _benchmark(self, rule_set, start, end, repeat: int) -> None:
        out = self.stdout
        out.write(f"benchmark: dry run of {rule_set} over [{start.isoformat()}, {end.isoformat()})")
        # Wall time, and this process's CPU time: on a shared machine the first depends on the
        # neighbours, the second much less (the database's own time is in the wall time only).
        timings, cpu = [], []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                began, began_cpu = time.perf_counter(), time.process_time()
                report = dry_run(rule_set=rule_set, start=start, end=end)
                timings.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
        out.write(
            f"  dry run:   {min(timings):7.3f} s  (best of {repeat}, {min(cpu):.3f} s CPU; "
            f"{len(queries)} queries; {report.orders} orders, {report.orders_attributed} attributed)"
        )
        with CaptureQueriesContext(connection) as queries:
            began, began_cpu = time.perf_counter(), time.process_time()
            _orders, current, drafted = baseline_replay(rule_set=rule_set, start=start, end=end)
            baseline = time.perf_counter() - began
            baseline_cpu = time.process_time() - began_cpu
        out.write(
            f"  baseline:  {baseline:7.3f} s  ({baseline_cpu:.3f} s CPU; order-by-order replay; "
            f"{len(queries)} queries)"
        )
        out.write(f"  speed-up:  {baseline / max(min(timings), 1e-9):7.1f} x")
        same_draft = {k: v for k, v in drafted.items() if v} == {
            k: v for k, v in report.draft.per_koc.items() if v
        }
        same_paid = {k: v for k, v in current.items() if v} == {
            k: v for k, v in report.current.per_koc.items() if v
        }
        out.write(
            f"  draft per KOC equal to the baseline's: {'yes' if same_draft else 'NO'} "
            f"(differs where a seller's tier changed since: the dry run reads it as of each order)"
        )
        out.write(
            "  paid per KOC equal to the baseline's replay of the sets in force: "
            f"{'yes' if same_paid else 'NO'} "
            f"(differs where the tree, tiers or approvals changed since the orders were accrued)"
        )
