from django.core.management.base import BaseCommand, CommandError

from apps.commissions import reports


class Command(BaseCommand):
    help = (
        "Write the quarter's platform tax report (国务院令第810号: every individual and organisation "
        "paid in the quarter, identity and income) as CSV or Excel, with a progress bar."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quarter", required=True, help="YYYYQn, e.g. 2026Q1")
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--output", help="file to write (default: platform-report-YYYYQn.<format>)")

    def handle(self, *args, quarter, format, output=None, **options):
        try:
            year, number = (int(p) for p in quarter.upper().split("Q"))
            reports.quarter_bounds(year, number)
        except ValueError as exc:
            raise CommandError(f"--quarter must be YYYYQn with n in 1..4, not {quarter!r}") from exc
        report = reports.platform_report(year, number)
        path = output or f"{report.filename}.{format}"
        rows = reports.write(report, path=path, fmt=format, stream=self.stderr)
        self.stdout.write(f"{rows} payees -> {path}")
