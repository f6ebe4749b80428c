"""Ship many orders at once from a CSV file (批量发货): `order_no,carrier,tracking_no`, one order a row.

The header may also be the order export's own Chinese one (订单号, 快递公司, 快递单号, other columns
ignored): operators export the paid orders, fill in the parcels and upload the same file.

Every row is checked before anything ships (a file with a typo ships nothing by surprise: the
operator sees a report of every row first, or ships the good rows and gets the bad ones back).
Rows that pass are shipped one by one through the shop's own `order_ship`, each in its own
transaction, so one order that changed meanwhile (refunded, shipped by a colleague) fails alone
with the shop's own message. The orders are looked up through the order admin's queryset, so a
brand operator can ship only what the console lets it see.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django import forms
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from apps.core import audit
from apps.core.errors import ApplicationError
from apps.shop import operator_scope
from apps.shop.brand_scope import brand_scope
from apps.shop.errors import OrderNotShippable
from apps.shop.models import Order
from apps.shop.services import order_ship

MAX_BYTES = 1024 * 1024  # 1 MB: ~20,000 rows, far more than a day's parcels
MAX_ROWS = 5000
COLUMNS = ("order_no", "carrier", "tracking_no")
FIELD_LABELS = {"order_no": _("order number"), "carrier": _("carrier"), "tracking_no": _("waybill number")}
# What each column may be called: the English names, or the headers of the orders' own export.
HEADER_NAMES = {
    "order_no": ("order_no", "订单号", "order number"),
    "carrier": ("carrier", "快递公司"),
    "tracking_no": ("tracking_no", "快递单号", "运单号", "tracking number"),
}

OK, SHIPPED, ERROR = "ok", "shipped", "error"
TOO_BIG = gettext_noop("The file is too large (%(size)d KB); the limit is %(limit)d KB: upload it in parts")


class ShipUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 (a BOM is fine); the first line is the header order_no,carrier,tracking_no, or the order "
            "export's own header (订单号, 快递公司, 快递单号)"
        ),
    )
    check_only = forms.BooleanField(label=_("Only check, do not ship"), required=False)


@dataclass
class Row:
    line: int
    order_no: str
    carrier: str
    tracking_no: str
    status: str = OK
    message: str = ""
    order: Order | None = None


class UploadError(Exception):
    """The file as a whole cannot be read: nothing is checked or shipped."""


def parse(data: bytes) -> list[Row]:
    """The rows of an uploaded file, or UploadError with what is wrong with the file itself."""
    if len(data) > MAX_BYTES:
        raise UploadError(gettext(TOO_BIG) % {"size": len(data) // 1024, "limit": MAX_BYTES // 1024})
    if b"\x00" in data[:4096]:
        raise UploadError(
            gettext("This is not a CSV text file (an Excel .xlsx?): save it as CSV UTF-8 and upload that")
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(
            gettext("The file is not UTF-8: in Excel, save it as “CSV UTF-8 (comma delimited)”")
        ) from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise UploadError(gettext("Cannot read the CSV: %(error)s") % {"error": exc}) from exc
    index = {}
    for column, names in HEADER_NAMES.items():
        found = [header.index(name) for name in names if name in header]
        if found:
            index[column] = found[0]
    missing = [f"{c}（{FIELD_LABELS[c]}）" for c in COLUMNS if c not in index]
    if missing:
        raise UploadError(
            gettext(
                "The header lacks columns: %(missing)s (the first line should be %(columns)s, or the order "
                "export's header)"
            )
            % {"missing": ", ".join(missing), "columns": ",".join(COLUMNS)}
        )
    rows: list[Row] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank lines, e.g. at the end of a file saved by Excel
            if len(rows) >= MAX_ROWS:
                raise UploadError(
                    gettext("More than %(max)d lines: upload them in parts") % {"max": MAX_ROWS}
                )
            cell = {c: (values[i].strip() if i < len(values) else "") for c, i in index.items()}
            rows.append(Row(line=reader.line_num, **cell))
    except csv.Error as exc:
        raise UploadError(
            gettext("Line %(line)d cannot be read: %(error)s") % {"line": reader.line_num, "error": exc}
        ) from exc
    if not rows:
        raise UploadError(gettext("The file has no data lines"))
    return rows


def validate(rows: list[Row], orders) -> None:
    """Mark each row ok or error (in place). `orders` is the queryset the user may ship from."""
    seen: dict[str, int] = {}
    found = {o.no: o for o in orders.filter(no__in=[r.order_no for r in rows if r.order_no])}
    for row in rows:
        empty = [str(FIELD_LABELS[c]) for c in COLUMNS if not getattr(row, c)]
        if empty:
            row.status, row.message = (
                ERROR,
                gettext("%(fields)s missing") % {"fields": gettext(", ").join(empty)},
            )
        elif len(row.carrier) > 32 or len(row.tracking_no) > 64:
            row.status, row.message = (
                ERROR,
                gettext("A carrier has at most 32 characters, a tracking number 64"),
            )
        elif row.order_no in seen:
            row.status, row.message = (
                ERROR,
                gettext("Order number repeated (already on line %(line)d)") % {"line": seen[row.order_no]},
            )
        elif row.order_no not in found:
            row.status, row.message = ERROR, gettext("No such order")
        else:
            row.order = found[row.order_no]
            row.message = _not_shippable(row.order)
            row.status = ERROR if row.message else OK
        seen.setdefault(row.order_no, row.line)


def _not_shippable(order: Order) -> str:
    """Why order_ship would refuse the order now ('' if it would not): the shop's own messages."""
    if order.status == Order.Status.SHIPPED:
        return gettext("Shipped (%(carrier)s %(tracking)s)") % {
            "carrier": order.carrier,
            "tracking": order.tracking_no,
        }
    if order.status != Order.Status.PAID:
        return gettext("%(refused)s: the order is “%(status)s”") % {
            "refused": OrderNotShippable.default_message,
            "status": order.get_status_display(),
        }
    if order.shipping_hold:
        return gettext("The group has not succeeded yet: the order cannot ship")
    return ""


def ship(rows: list[Row], *, user=None) -> None:
    """Ship the rows that passed, each through order_ship in its own transaction.

    A brand operator's row ships its own brand's unshipped lines of the order, as one parcel.
    """
    brands = brand_scope(user) if user is not None else None
    for row in rows:
        if row.status != OK:
            continue
        try:
            order_ship(
                order=row.order, carrier=row.carrier, tracking_no=row.tracking_no, brand_ids=brands, user=user
            )
        except ApplicationError as exc:  # changed since the check: refunded, shipped by someone else
            row.status, row.message = ERROR, exc.message
        else:
            row.status, row.message = SHIPPED, gettext("Shipped")
            audit.record(
                actor=user,
                obj=row.order,
                message=gettext("Shipped (CSV upload): %(carrier)s %(tracking)s")
                % {"carrier": row.carrier, "tracking": row.tracking_no},
            )


def can_ship(user) -> bool:
    return user.is_staff and operator_scope.can_ship(user)


def ship_upload_view(request, *, site: AdminSite):
    if not can_ship(request.user):
        raise PermissionDenied
    order_admin = site._registry.get(Order)
    # The order admin's queryset carries its scoping (a brand operator's own brand's orders).
    orders = order_admin.get_queryset(request) if order_admin else Order.objects.all()
    rows: list[Row] = []
    error = ""
    check_only = False
    form = ShipUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        check_only = form.cleaned_data["check_only"]
        try:
            if upload.size > MAX_BYTES:
                raise UploadError(
                    gettext(TOO_BIG) % {"size": upload.size // 1024, "limit": MAX_BYTES // 1024}
                )
            rows = parse(upload.read())
        except UploadError as exc:
            error = str(exc)
        else:
            validate(rows, orders)
            if not check_only:
                ship(rows, user=request.user)
    counts = {
        "total": len(rows),
        "ok": sum(r.status == OK for r in rows),
        "shipped": sum(r.status == SHIPPED for r in rows),
        "errors": sum(r.status == ERROR for r in rows),
    }
    context = {
        **site.each_context(request),
        "title": _("Ship in bulk (CSV upload)"),
        "form": form,
        "rows": rows,
        "counts": counts,
        "error": error,
        "check_only": check_only,
        "columns": ",".join(COLUMNS),
        "max_kb": MAX_BYTES // 1024,
        "orders_url": reverse("admin:shop_order_changelist") + "?status__exact=paid&shipping_hold__exact=0",
    }
    return TemplateResponse(request, "admin/console_ship_upload.html", context, status=400 if error else 200)
