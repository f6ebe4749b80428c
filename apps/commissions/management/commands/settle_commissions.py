from django.core.management.base import BaseCommand

from apps.commissions.services.settlement import settle_commissions
from apps.core.commands import NOW_HELP, parse_now


class Command(BaseCommand):
    help = "Move commissions whose freeze has ended to available and close ended reward periods (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help=NOW_HELP)
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, now=None, batch_size=500, **options):
        report = settle_commissions(now=parse_now(now), batch_size=batch_size)
        self.stdout.write(
            f"released {report.released} commissions ({report.released_fen} fen); "
            f"closed {report.periods_closed} periods with {report.rewards} rewards ({report.rewards_fen} fen)"
        )
