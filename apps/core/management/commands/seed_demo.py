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
        parser.add_argument(
            "--kocs", type=int, default=None, metavar="K", help="with --scale: exactly K KOCs (e.g. 1000000)"
        )
        parser.add_argument(
            "--orders",
            type=int,
            default=None,
            metavar="O",
            help="with --scale: exactly O orders (e.g. 1000000)",
        )

    def handle(self, *args, scale: float = 0, kocs: int | None = None, orders: int | None = None, **options):
        if scale < 0:
            raise CommandError("--scale must be positive")
        if (kocs is not None or orders is not None) and not scale:
            raise CommandError("--kocs and --orders size the scale data: give --scale too")
        if (kocs is not None and kocs < 20) or (orders is not None and orders < 1):
            raise CommandError("--kocs must be at least 20 and --orders at least 1")
        for label, _order, seed in sorted(seeders(), key=lambda s: (s[1], s[0])):
            with transaction.atomic():
                seed(self.stdout)
            self.stdout.write(f"seeded {label}")
        self.stdout.write(self.style.SUCCESS("demo data ready"))
        if scale:
            # Imported here: a plain seed needs none of the scale demo.
            from apps.demo.scale import seed_scale

            report = seed_scale(scale=scale, stdout=self.stdout, kocs=kocs, orders=orders)
            if not report.skipped:
                timings = ", ".join(f"{label} {seconds:.1f}s" for label, seconds in report.timings)
                self.stdout.write(self.style.SUCCESS(f"scale data ready ({timings})"))
