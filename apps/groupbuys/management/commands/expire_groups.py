from django.core.management.base import BaseCommand

from apps.core.commands import NOW_HELP, parse_now
from apps.groupbuys import services


class Command(BaseCommand):
    help = (
        "Fail every forming group past its deadline: refund paid members, cancel unpaid orders (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help=NOW_HELP)

    def handle(self, *args, now=None, **options):
        count = services.groups_expire(now=parse_now(now))
        self.stdout.write(f"failed {count} expired group(s)")
