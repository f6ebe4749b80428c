from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.commissions.services.settlement import settle_commissions


class Command(BaseCommand):
    help = "Move commissions whose freeze has ended to available and close ended reward periods (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO 8601 instant to settle as of (default: now)")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, now=None, batch_size=500, **options):
        at = None
        if now:
            at = parse_datetime(now)
            if at is None or at.tzinfo is None:
                raise CommandError(
                    "--now must be an ISO 8601 datetime with an offset, e.g. 2026-05-01T00:00:00+08:00"
                )
        report = settle_commissions(now=at, batch_size=batch_size)
        self.stdout.write(
            f"released {report.released} commissions ({report.released_fen} fen); "
            f"closed {report.periods_closed} periods with {report.rewards} rewards ({report.rewards_fen} fen)"
        )
