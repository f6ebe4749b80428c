from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.commissions import reports


class Command(BaseCommand):
    help = (
        "Write the month's 劳务报酬 withholding list (one row per person, full ID numbers: for the "
        "tax return only) as CSV or Excel, with a progress bar."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--output", help="file to write (default: withholding-YYYY-MM.<format>)")

    def handle(self, *args, month, format, output=None, **options):
        try:
            year, number = (int(p) for p in month.split("-"))
            first = date(year, number, 1)
        except ValueError as exc:
            raise CommandError(f"--month must be YYYY-MM, not {month!r}") from exc
        report = reports.withholding_list(first)
        path = output or f"{report.filename}.{format}"
        rows = reports.write(report, path=path, fmt=format, stream=self.stderr)
        self.stdout.write(f"{rows} people -> {path}")
