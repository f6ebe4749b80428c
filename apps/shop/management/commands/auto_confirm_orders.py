from django.core.management.base import BaseCommand

from apps.core.commands import parse_now
from apps.shop import services


class Command(BaseCommand):
    help = "Complete every order shipped more than SHOP_AUTO_CONFIRM_DAYS ago (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="the current time, ISO 8601 with offset (default: now)")

    def handle(self, *args, now=None, **options):
        count = services.auto_confirm_orders(now=parse_now(now))
        self.stdout.write(f"completed {count} shipped order(s)")
