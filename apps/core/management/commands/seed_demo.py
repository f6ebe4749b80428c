from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.core.commands import parse_now
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
        parser.add_argument(
            "--now",
            default=None,
            metavar="ISO",
            help=(
                "with --scale: the moment the scale data runs up to, ISO 8601 with an offset (default: "
                "now; not in the future). The same moment of day gives the same data set."
            ),
        )

    def handle(
        self,
        *args,
        scale: float = 0,
        kocs: int | None = None,
        orders: int | None = None,
        now: str | None = None,
        **options,
    ):
        if scale < 0:
            raise CommandError("--scale must be positive")
        moment = self._moment(now, scale=scale)
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

            report = seed_scale(scale=scale, stdout=self.stdout, kocs=kocs, orders=orders, now=moment)
            if not report.skipped:
                timings = ", ".join(f"{label} {seconds:.1f}s" for label, seconds in report.timings)
                self.stdout.write(self.style.SUCCESS(f"scale data ready ({timings})"))

    @staticmethod
    def _moment(value: str | None, *, scale: float):
        moment = parse_now(value)
        if moment is not None and not scale:
            raise CommandError("--now dates the scale data: give --scale too")
        if moment is not None and moment > timezone.now():
            raise CommandError("--now is in the future: the scale data runs up to a past moment")
        return moment
