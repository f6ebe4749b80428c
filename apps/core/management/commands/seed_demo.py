from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core.seeding import seeders


class Command(BaseCommand):
    help = (
        "Create the demo data of docs/api.md (idempotent: running it again changes nothing); "
        "--scale N adds a large data set on top (thousands of KOCs, tens of thousands of orders)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=0,
            metavar="N",
            help=(
                "after the demo, add N x (~2,000 KOCs in deep teams, ~10,000 orders over 60 days, group "
                "buys, refunds, commissions through the engine); once: a second run finds it and skips"
            ),
        )

    def handle(self, *args, scale: float = 0, **options):
        if scale < 0:
            raise CommandError("--scale must be positive")
        for label, _order, seed in sorted(seeders(), key=lambda s: (s[1], s[0])):
            with transaction.atomic():
                seed(self.stdout)
            self.stdout.write(f"seeded {label}")
        self.stdout.write(self.style.SUCCESS("demo data ready"))
        if scale:
            # Imported here: the console app (and its admin) need not load for a plain seed.
            from apps.console.scale import seed_scale

            report = seed_scale(scale=scale, stdout=self.stdout)
            if not report.skipped:
                timings = ", ".join(f"{label} {seconds:.1f}s" for label, seconds in report.timings)
                self.stdout.write(self.style.SUCCESS(f"scale data ready ({timings})"))
