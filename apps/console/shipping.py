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

from apps.core.errors import ApplicationError
from apps.shop import operator_scope
from apps.shop.brand_scope import brand_scope
from apps.shop.errors import OrderNotShippable
from apps.shop.models import Order
from apps.shop.services import order_ship

MAX_BYTES = 1024 * 1024  # 1 MB: ~20,000 rows, far more than a day's parcels
MAX_ROWS = 5000
COLUMNS = ("order_no", "carrier", "tracking_no")
FIELD_LABELS = {"order_no": "订单号", "carrier": "快递公司", "tracking_no": "运单号"}
# What each column may be called: the English names, or the headers of the orders' own export.
HEADER_NAMES = {
    "order_no": ("order_no", "订单号", "order number"),
    "carrier": ("carrier", "快递公司"),
    "tracking_no": ("tracking_no", "快递单号", "运单号", "tracking number"),
}

OK, SHIPPED, ERROR = "ok", "shipped", "error"


class ShipUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV 文件",
        help_text="UTF-8（可带 BOM），首行表头：order_no,carrier,tracking_no，"
        "或订单导出的表头（订单号、快递公司、快递单号）",
    )
    check_only = forms.BooleanField(label="只检查，不发货", required=False)


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
        raise UploadError(f"文件过大（{len(data) // 1024} KB），上限 {MAX_BYTES // 1024} KB，请分批上传")
    if b"\x00" in data[:4096]:
        raise UploadError("这不是 CSV 文本文件（可能是 Excel 的 .xlsx），请另存为 CSV UTF-8 后上传")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError("文件不是 UTF-8 编码，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise UploadError(f"无法解析 CSV：{exc}") from exc
    index = {}
    for column, names in HEADER_NAMES.items():
        found = [header.index(name) for name in names if name in header]
        if found:
            index[column] = found[0]
    missing = [f"{c}（{FIELD_LABELS[c]}）" for c in COLUMNS if c not in index]
    if missing:
        raise UploadError(
            f"表头缺少列：{', '.join(missing)}（首行应为 {','.join(COLUMNS)}，或订单导出的表头）"
        )
    rows: list[Row] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank lines, e.g. at the end of a file saved by Excel
            if len(rows) >= MAX_ROWS:
                raise UploadError(f"行数超过 {MAX_ROWS}，请分批上传")
            cell = {c: (values[i].strip() if i < len(values) else "") for c, i in index.items()}
            rows.append(Row(line=reader.line_num, **cell))
    except csv.Error as exc:
        raise UploadError(f"第 {reader.line_num} 行无法解析：{exc}") from exc
    if not rows:
        raise UploadError("文件中没有数据行")
    return rows


def validate(rows: list[Row], orders) -> None:
    """Mark each row ok or error (in place). `orders` is the queryset the user may ship from."""
    seen: dict[str, int] = {}
    found = {o.no: o for o in orders.filter(no__in=[r.order_no for r in rows if r.order_no])}
    for row in rows:
        empty = [FIELD_LABELS[c] for c in COLUMNS if not getattr(row, c)]
        if empty:
            row.status, row.message = ERROR, f"缺少{'、'.join(empty)}"
        elif len(row.carrier) > 32 or len(row.tracking_no) > 64:
            row.status, row.message = ERROR, "快递公司最长 32 字，运单号最长 64 字"
        elif row.order_no in seen:
            row.status, row.message = ERROR, f"订单号重复（第 {seen[row.order_no]} 行已有）"
        elif row.order_no not in found:
            row.status, row.message = ERROR, "订单不存在"
        else:
            row.order = found[row.order_no]
            row.message = _not_shippable(row.order)
            row.status = ERROR if row.message else OK
        seen.setdefault(row.order_no, row.line)


def _not_shippable(order: Order) -> str:
    """Why order_ship would refuse the order now ('' if it would not): the shop's own messages."""
    if order.status == Order.Status.SHIPPED:
        return f"已发货（{order.carrier} {order.tracking_no}）"
    if order.status != Order.Status.PAID:
        return f"{OrderNotShippable.default_message}：订单状态为“{order.get_status_display()}”"
    if order.shipping_hold:
        return "拼团尚未成功，订单暂不能发货"
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
            row.status, row.message = SHIPPED, "已发货"


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
                    f"文件过大（{upload.size // 1024} KB），上限 {MAX_BYTES // 1024} KB，请分批上传"
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
        "title": "批量发货（CSV 上传）",
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
