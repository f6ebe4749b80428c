"""CSV and Excel exports of admin changelists, streamed, honouring the admin's current filters.

Add `ExportMixin` to a ModelAdmin and declare `export_columns = [("header", "field" | callable)]`.
The changelist gets "导出 CSV" and "导出 Excel" buttons; each export runs the changelist's own
queryset (search, filters, date hierarchy: exactly what the admin is looking at) and streams it in
chunks, so exporting many rows never loads them all into memory.

Money and times are typed values (`Yuan`, `Moment`) that read as text in the CSV ("99.00", ISO 8601)
and become real cells in Excel: numbers in yuan with a two-decimal number format, and date-time cells,
so finance can sum, sort and filter them without converting text first.
"""

from __future__ import annotations

import csv
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from apps.core.money import yuan

Column = tuple[str, str | Callable[[Any], Any]]

YUAN_FORMAT = "#,##0.00"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
# Column widths are fitted to the header and the first rows (the rest stream without being held).
WIDTH_SAMPLE_ROWS = 200
MAX_WIDTH = 60


class Yuan(str):
    """An amount of money: "99.00" as text (the CSV), `fen` for a numeric Excel cell."""

    fen: int

    def __new__(cls, fen: int) -> Yuan:
        value = super().__new__(cls, yuan(fen))
        value.fen = int(fen)
        return value

    def number(self) -> Decimal:
        return Decimal(self.fen) / 100


def money(fen: int | None) -> Yuan | str:
    """The export value of an amount in fen; blank when there is none."""
    return "" if fen is None else Yuan(fen)


class Moment(str):
    """A time: ISO 8601 in local time as text (the CSV), a date-time cell in Excel (local, no offset,
    since Excel has no time zones and finance reads Beijing time)."""

    value: datetime | date

    def __new__(cls, value: datetime | date) -> Moment:
        if isinstance(value, datetime) and value.tzinfo:
            value = timezone.localtime(value)
        moment = super().__new__(cls, value.isoformat())
        # Seconds are what people read; Excel keeps only milliseconds anyway.
        moment.value = value.replace(tzinfo=None, microsecond=0) if isinstance(value, datetime) else value
        return moment


# A CSV cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP's
# CSV injection list): `=HYPERLINK(...)` in an address name became a live link in the orders' file.
# (The Excel export types every text cell as text instead: `_xlsx_cell`.)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run is prefixed with an apostrophe, which makes it plain text.

    Numbers stay numbers: an int, a Decimal, or text that is only a signed number ("-12.50" yuan)
    cannot be a formula.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _NUMBER.match(value):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _value(obj: Any, accessor: str | Callable[[Any], Any]) -> Any:
    if callable(accessor):
        return accessor(obj)
    value: Any = obj
    for part in accessor.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return ""
        if callable(value) and not hasattr(value, "all"):
            value = value()
    if isinstance(value, datetime | date):
        return Moment(value)
    return value


def rows(objects: Iterable[Any], columns: Sequence[Column]) -> Iterator[list[Any]]:
    for obj in objects:
        yield [_value(obj, accessor) for _, accessor in columns]


def csv_stream(header: Sequence[str], body: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so Excel opens the UTF-8 Chinese text correctly
    yield writer.writerow(safe_row(header))
    for row in body:
        yield writer.writerow(safe_row(row))


def csv_response(
    filename: str, header: Sequence[str], body: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_stream(header, body), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def _display_width(value: Any) -> int:
    """Characters as a spreadsheet draws them: a Chinese character takes two columns."""
    text = f"{value.number():,.2f}" if isinstance(value, Yuan) else str(value)
    if isinstance(value, Moment) and isinstance(value.value, datetime):
        text = "2026-01-01 00:00:00"
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def column_widths(header: Sequence[str], sample: Sequence[Sequence[Any]]) -> list[float]:
    widths = []
    for index, title in enumerate(header):
        longest = max([_display_width(title) + 2, *(_display_width(row[index]) for row in sample)])
        widths.append(min(longest + 2, MAX_WIDTH))
    return widths


def _xlsx_cell(sheet, value: Any, *, bold: bool = False) -> Any:
    """One cell: money as a number in yuan, times as date cells, any other text as plain text."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    if isinstance(value, Yuan):
        cell = WriteOnlyCell(sheet, value=value.number())
        cell.number_format = YUAN_FORMAT
    elif isinstance(value, Moment):
        cell = WriteOnlyCell(sheet, value=value.value)
        cell.number_format = DATETIME_FORMAT if isinstance(value.value, datetime) else DATE_FORMAT
    elif isinstance(value, str):
        # Typed as text: openpyxl would store a string starting with "=" as a formula.
        cell = WriteOnlyCell(sheet, value=str(value))
        cell.data_type = "s"
    else:
        cell = WriteOnlyCell(sheet, value=value)
    if bold:
        cell.font = Font(bold=True)
    return cell


def xlsx_response(filename: str, header: Sequence[str], body: Iterable[Sequence[Any]]) -> FileResponse:
    """A workbook people can work in: a bold, frozen header with filters, fitted column widths.

    openpyxl's write-only mode keeps memory flat; the workbook is spooled to a temp file and streamed.
    Column widths must be written before the first row, so they are fitted to the first rows only.
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=filename[:31])
    body = iter(body)
    sample = [list(row) for row in islice(body, WIDTH_SAMPLE_ROWS)]
    for index, width in enumerate(column_widths(header, sample), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_xlsx_cell(sheet, title, bold=True) for title in header])
    count = 0
    for row in chain(sample, body):
        sheet.append([_xlsx_cell(sheet, value) for value in row])
        count += 1
    if header:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (FileResponse closes it)
    workbook.save(spool)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=f"{filename}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


class ExportMixin(admin.ModelAdmin):
    export_columns: Sequence[Column] = ()
    export_filename: str = ""
    export_chunk_size = 2000
    change_list_template = "admin/export_change_list.html"

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        return [
            path("export.csv", self.admin_site.admin_view(self.export_csv), name=f"{prefix}_export_csv"),
            path("export.xlsx", self.admin_site.admin_view(self.export_xlsx), name=f"{prefix}_export_xlsx"),
            *super().get_urls(),
        ]

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def export_queryset(self, request):
        """Exactly the rows of the changelist the admin is looking at (its filters and search)."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return changelist.get_queryset(request)

    def _export(self, request, respond):
        queryset = self.export_queryset(request)
        name = self.export_filename or self.model._meta.model_name
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        header = [str(h) for h, _ in self.export_columns]  # labels may be lazy translations
        body = rows(queryset.iterator(chunk_size=self.export_chunk_size), self.export_columns)
        return respond(f"{name}-{stamp}", header, body)

    def export_csv(self, request):
        return self._export(request, csv_response)

    def export_xlsx(self, request):
        return self._export(request, xlsx_response)
