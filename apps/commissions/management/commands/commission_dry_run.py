from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.commissions.models import RuleSet
from apps.commissions.services.dry_run import dry_run


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
        report = dry_run(rule_set=chosen, start=_instant(start), end=_instant(end))
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
