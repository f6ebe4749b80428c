"""Batch shipping from a CSV upload: good rows ship, bad rows are reported exactly, files are checked."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.console import shipping
from apps.shop.models import Order
from tests.accounts.factories import UserFactory
from tests.shop.factories import SkuFactory, make_order, make_paid_order

URL = "/admin/console/ship-upload/"


@pytest.fixture
def clerk(db):
    user = UserFactory(username="clerk", is_staff=True, openid=None)
    user.user_permissions.add(Permission.objects.get(codename="change_order", content_type__app_label="shop"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def orders(db):
    sku = SkuFactory(price_fen=9900, stock=100)
    return {
        "a": make_paid_order(sku=sku),
        "b": make_paid_order(sku=sku),
        "unpaid": make_order(sku=sku),
        "held": _held(make_paid_order(sku=sku)),
    }


def _held(order):
    Order.objects.filter(pk=order.pk).update(shipping_hold=True)
    return order


def _upload(client, text: str | bytes, *, name="ship.csv", check_only=False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    payload = {"file": SimpleUploadedFile(name, data, content_type="text/csv")}
    if check_only:
        payload["check_only"] = "on"
    return client.post(URL, payload)


def _report(response) -> list[tuple[str, str, str]]:
    """(line, order no, result) of each report row, as the page shows them."""
    html = response.content.decode()
    body = html.split('<table id="ship-report">', 1)[1].split("</table>", 1)[0]
    rows = []
    for tr in re.findall(r"<tr class=\"row-\w+\">(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", tr, re.S)]
        rows.append((cells[0], cells[1], cells[4]))
    return rows


def test_the_url_is_on_the_admin_site():
    assert reverse("admin:console_ship_upload") == URL


def test_a_mixed_file_ships_the_good_rows_and_reports_the_bad_ones(clerk, orders):
    a, b, unpaid, held = orders["a"], orders["b"], orders["unpaid"], orders["held"]
    csv_text = (
        "\ufefforder_no,carrier,tracking_no\n"  # Excel's BOM
        f"{a.no},顺丰速运,SF100\n"
        f"{b.no}, 中通快递 , ZT200 \n"
        "NOPE123,顺丰速运,SF300\n"
        f"{unpaid.no},顺丰速运,SF400\n"
        f"{held.no},顺丰速运,SF500\n"
        f"{a.no},圆通,YT600\n"
        f"{b.no},,\n"
        "\n"
    )

    # when
    response = _upload(clerk, csv_text)

    # then: a and b shipped with the stripped values, nothing else moved
    assert response.status_code == 200
    a.refresh_from_db(), b.refresh_from_db(), unpaid.refresh_from_db(), held.refresh_from_db()
    assert (a.status, a.carrier, a.tracking_no) == ("shipped", "顺丰速运", "SF100")
    assert (b.status, b.carrier, b.tracking_no) == ("shipped", "中通快递", "ZT200")
    assert unpaid.status == "pending_payment" and held.status == "paid" and not held.tracking_no
    assert _report(response) == [
        ("2", a.no, "已发货"),
        ("3", b.no, "已发货"),
        ("4", "NOPE123", "订单不存在"),
        ("5", unpaid.no, "订单无法发货：订单状态为“待支付”"),
        ("6", held.no, "拼团尚未成功，订单暂不能发货"),
        ("7", a.no, "订单号重复（第 2 行已有）"),
        ("8", b.no, "缺少快递公司、运单号"),
    ]
    assert "共 7 行：已发货 2 行，有问题 5 行" in response.content.decode()


def test_check_only_ships_nothing(clerk, orders):
    response = _upload(
        clerk, f"order_no,carrier,tracking_no\n{orders['a'].no},顺丰速运,SF1\n", check_only=True
    )

    assert _report(response) == [("2", orders["a"].no, "可发货")]
    assert Order.objects.get(pk=orders["a"].pk).status == "paid"


def test_uploading_the_same_file_again_reports_already_shipped(clerk, orders):
    a = orders["a"]
    text = f"order_no,carrier,tracking_no\n{a.no},顺丰速运,SF100\n"
    _upload(clerk, text)

    response = _upload(clerk, text)

    assert _report(response) == [("2", a.no, "已发货（顺丰速运 SF100）")]
    assert "已发货 0 行，有问题 1 行" in response.content.decode()
    a.refresh_from_db()
    assert (a.status, a.tracking_no) == ("shipped", "SF100")


def test_the_order_exports_own_csv_with_its_chinese_headers_ships_once_filled_in(clerk, orders):
    # given: the clerk exports the paid orders and fills in the parcels of a and b, leaving the held one
    a, b, held = orders["a"], orders["b"], orders["held"]
    exported = b"".join(clerk.get("/admin/shop/order/export.csv?status__exact=paid").streaming_content)
    table = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    header = table[0]
    assert {"订单号", "快递公司", "快递单号"} <= set(header)
    carrier, tracking = header.index("快递公司"), header.index("快递单号")
    parcels = {a.no: ("顺丰速运", "SF100"), b.no: ("中通快递", "ZT200")}
    for row in table[1:]:
        row[carrier], row[tracking] = parcels.get(row[header.index("订单号")], ("", ""))
    out = io.StringIO()
    csv.writer(out).writerows(table)

    # when the same file is uploaded
    response = _upload(clerk, "\ufeff" + out.getvalue())

    # then a and b shipped with their parcels, the unfilled row is reported and stays paid
    assert response.status_code == 200
    a.refresh_from_db(), b.refresh_from_db(), held.refresh_from_db()
    assert (a.status, a.carrier, a.tracking_no) == ("shipped", "顺丰速运", "SF100")
    assert (b.status, b.carrier, b.tracking_no) == ("shipped", "中通快递", "ZT200")
    assert held.status == "paid"
    assert sorted(result for _line, _no, result in _report(response)) == [
        "已发货",
        "已发货",
        "缺少快递公司、运单号",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x00\x00binary xlsx", "这不是 CSV 文本文件"),
        ("订单号,快递\n1,2\n".encode(), "表头缺少列：carrier（快递公司）, tracking_no（运单号）"),
        ("no,快递公司,快递单号\n1,2,3\n".encode(), "表头缺少列：order_no（订单号）（"),
        ("order_no,carrier,tracking_no\n".encode("gbk"), "文件中没有数据行"),
        ("order_no,carrier,tracking_no\n顺丰,顺丰,1\n".encode("gbk"), "文件不是 UTF-8 编码"),
        (b"order_no,carrier,tracking_no\n" + b"X,Y,Z\n" * 200_000, "文件过大"),
    ],
)
def test_a_file_that_is_not_a_usable_csv_gets_a_clear_error(clerk, orders, data, message):
    response = _upload(clerk, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Order.objects.filter(status="shipped").count() == 0


def test_too_many_rows_is_refused_before_anything_ships(orders):
    text = "order_no,carrier,tracking_no\n" + "".join(f"N{i},c,t\n" for i in range(shipping.MAX_ROWS + 1))
    with pytest.raises(shipping.UploadError, match="行数超过"):
        shipping.parse(text.encode())


def test_staff_without_the_order_permission_is_refused(db, orders):
    user = UserFactory(username="viewer", is_staff=True, openid=None)
    client = Client()
    client.force_login(user)

    response = _upload(client, f"order_no,carrier,tracking_no\n{orders['a'].no},顺丰速运,SF1\n")

    assert response.status_code == 403
    assert Order.objects.get(pk=orders["a"].pk).status == "paid"


def test_the_page_renders_for_a_clerk(clerk):
    response = clerk.get(URL)

    assert response.status_code == 200
    assert "order_no,carrier,tracking_no" in response.content.decode()
