from django.core.management.base import BaseCommand

from apps.core.commands import NOW_HELP, parse_now
from apps.shop import services


class Command(BaseCommand):
    help = "Cancel every unpaid order past its payment deadline (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help=NOW_HELP)

    def handle(self, *args, now=None, **options):
        count = services.cancel_unpaid_orders(now=parse_now(now))
        self.stdout.write(f"cancelled {count} unpaid order(s)")
