from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.commissions.models import OrderFact, RuleSet
from apps.commissions.services.dry_run import Column, DryRunReport, dry_run
from apps.core.progress import Progress


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


def _merge_column(into: Column, part: Column) -> None:
    into.total_fen += part.total_fen
    into.cap_fen += part.cap_fen
    into.orders_paying += part.orders_paying
    into.orders_scaled += part.orders_scaled
    if part.min_headroom_fen is not None and (
        into.min_headroom_fen is None or part.min_headroom_fen < into.min_headroom_fen
    ):
        into.min_headroom_fen = part.min_headroom_fen
    for name in ("per_koc", "per_rule", "per_level"):
        target = getattr(into, name)
        for key, fen in getattr(part, name).items():
            target[key] += fen


def batched_dry_run(*, rule_set, start, end, batch=timedelta(days=1), stream=None) -> DryRunReport:
    """`dry_run` one batch of days at a time (each order is replayed on its own, so the batches add
    up to the whole), with a progress bar over the orders replayed."""
    report = DryRunReport(rule_set=rule_set, start=start, end=end)
    total = (
        OrderFact.objects.filter(paid_at__gte=start, paid_at__lt=end, paid_at__isnull=False)
        .exclude(payload={})
        .count()
    )
    with Progress(total, label="replaying orders", stream=stream) as bar:
        cursor = start
        while cursor < end:
            upto = min(cursor + batch, end)
            part = dry_run(rule_set=rule_set, start=cursor, end=upto)
            report.orders += part.orders
            _merge_column(report.current, part.current)
            _merge_column(report.draft, part.draft)
            report.koc_labels.update(part.koc_labels)
            report.rule_labels.update(part.rule_labels)
            bar.advance(part.orders)
            cursor = upto
    return report


class Command(BaseCommand):
    help = "Replay orders paid in [start, end) with a draft rule set beside the sets in force; no writes."

    def add_arguments(self, parser):
        parser.add_argument("--rule-set", type=int, required=True, help="RuleSet id")
        parser.add_argument("--start", required=True, help="ISO date or datetime (inclusive)")
        parser.add_argument("--end", required=True, help="ISO date or datetime (exclusive)")

    def handle(self, *args, rule_set, start, end, **options):
        try:
            chosen = RuleSet.objects.get(pk=rule_set)
        except RuleSet.DoesNotExist as exc:
            raise CommandError(f"no rule set {rule_set}") from exc
        # the raw stream: OutputWrapper would end each "\r" redraw of the bar with a newline
        stream = getattr(self.stderr, "_out", self.stderr)
        report = batched_dry_run(rule_set=chosen, start=_instant(start), end=_instant(end), stream=stream)
        out = self.stdout
        out.write(f"dry run of {chosen} over {report.orders} orders paid in [{start}, {end})")
        out.write(f"{'':28}{'in force':>14}{'draft':>14}")
        for label, a, b in [
            ("total fen", report.current.total_fen, report.draft.total_fen),
            ("cap fen", report.current.cap_fen, report.draft.cap_fen),
            ("headroom fen", report.current.headroom_fen, report.draft.headroom_fen),
            ("min headroom per order", report.current.min_headroom_fen, report.draft.min_headroom_fen),
            ("orders scaled to cap", report.current.orders_scaled, report.draft.orders_scaled),
        ]:
            out.write(f"{label:28}{a if a is not None else '-':>14}{b if b is not None else '-':>14}")
        for title, attribute in [
            ("per level", "per_level"),
            ("per rule", "per_rule"),
            ("per KOC", "per_koc"),
        ]:
            out.write(f"\n{title}:")
            for label, current, draft, diff in report.rows(attribute):
                out.write(f"  {label[:40]:40}{current:>12}{draft:>12}{diff:>+12}")
