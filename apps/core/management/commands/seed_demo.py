from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.seeding import seeders


class Command(BaseCommand):
    help = "Create the demo data of API.md (idempotent: running it again changes nothing)."

    def handle(self, *args, **options):
        for label, _order, seed in sorted(seeders(), key=lambda s: (s[1], s[0])):
            with transaction.atomic():
                seed(self.stdout)
            self.stdout.write(f"seeded {label}")
        self.stdout.write(self.style.SUCCESS("demo data ready"))
