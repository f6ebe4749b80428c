from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.groupbuys import services


def parse_now(value: str | None):
    if not value:
        return None
    now = parse_datetime(value)
    if now is None or now.tzinfo is None:
        raise CommandError(f"--now must be an ISO 8601 datetime with an offset, not {value!r}")
    return now


class Command(BaseCommand):
    help = (
        "Fail every forming group past its deadline: refund paid members, cancel unpaid orders (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="the current time, ISO 8601 with offset (default: now)")

    def handle(self, *args, now=None, **options):
        count = services.groups_expire(now=parse_now(now))
        self.stdout.write(f"failed {count} expired group(s)")
