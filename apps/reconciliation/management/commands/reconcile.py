from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from apps.reconciliation.services import reconcile


class Command(BaseCommand):
    help = "Reconcile a day: WeChat Pay's trade and fund flow bills against payments, refunds and transfers."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="the bill date, YYYY-MM-DD (default: yesterday, Asia/Shanghai)")

    def handle(self, *args, date=None, **options):
        try:
            day = parse_date(date) if date else timezone.localdate() - timedelta(days=1)
        except ValueError:
            day = None
        if day is None:
            raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}")
        run = reconcile(bill_date=day)
        self.stdout.write(
            f"{day}: {run.status}: {run.payments} payment(s), {run.refunds} refund(s), "
            f"{run.transfers} transfer(s), {run.differences_count} difference(s)"
        )
        for d in run.differences.all():
            self.stdout.write(
                f"  {d.kind} {d.reference}: {d.problem} wechat={d.wechat_amount_fen}/{d.wechat_state or '-'} "
                f"ours={d.our_amount_fen}/{d.our_state or '-'} {d.explanation}"
            )
        if run.status == run.Status.FAILED:
            raise CommandError(run.error or "the bills could not be fetched")
