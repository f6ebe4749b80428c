from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Simulate N days of the product through its public API against the WeChat sandbox (simulated "
        "clock, optional chaos), settle, and check the invariants; exits 1 when one fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=3)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--chaos", type=float, default=0.0, metavar="RATE", help="fault rate 0..1 per WeChat call"
        )
        parser.add_argument(
            "--rate", type=float, default=0.6, help="shopper actions per simulated hour (mean)"
        )

    def handle(self, *args, days: int, seed: int, chaos: float, rate: float, **options):
        if not settings.WECHAT_SANDBOX:
            raise CommandError(
                "simulate drives the WeChat sandbox: WECHAT_SANDBOX must be on (never in production)"
            )
        if days < 1 or not 0 <= chaos <= 1 or rate <= 0:
            raise CommandError("--days >= 1, --chaos from 0 to 1, --rate > 0")
        try:
            import responses  # noqa: F401
            import time_machine  # noqa: F401
        except ImportError as exc:
            raise CommandError(
                f"simulate needs the dev dependencies (pip install -e '.[dev]'): {exc}"
            ) from exc
        from apps.core.simulation import Simulation

        report = Simulation(days=days, seed=seed, chaos=chaos, shoppers_per_hour=rate).run()
        self.stdout.write(f"simulated {days} day(s), seed {seed}, chaos {chaos}")
        for name in sorted(report.counts):
            self.stdout.write(f"  {name}: {report.counts[name]}")
        if report.faults:
            self.stdout.write(
                "  faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items()))
            )
        for invariant in report.invariants:
            mark = "ok  " if invariant.held else "FAIL"
            self.stdout.write(
                f"{mark} {invariant.name}" + ("" if invariant.held else f": {invariant.detail}")
            )
        if not report.ok:
            raise CommandError("an invariant failed", returncode=1)
