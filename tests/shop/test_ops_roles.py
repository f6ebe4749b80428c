"""The operator API asks the admin's permissions, role by role, and a brand operator's brand.

Every ops endpoint × every role: the expected status, and nothing changed where refused.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.console.roles import ensure_role_groups
from apps.shop import services
from apps.shop.models import Order, OrderItem, ProductImage, Refund, Shipment
from tests.accounts.factories import AddressFactory, UserFactory
from tests.console.roles import brand_operator, finance, logged_in, platform_admin
from tests.helpers import bearer_client, error_code, token_client
from tests.shop.factories import BrandFactory, SkuFactory, payment_notice, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    """Brand A (tea) and brand B (wine); an order of A's tea and a mixed order of both, paid, each
    with a refund requested; and one user per role."""
    ensure_role_groups()
    brand_a, brand_b = BrandFactory(name="甲茶"), BrandFactory(name="乙酒")
    tea = SkuFactory(product__brand=brand_a, price_fen=9900, stock=100)
    wine = SkuFactory(product__brand=brand_b, price_fen=5000, stock=100)
    buyer = UserFactory()
    address = AddressFactory(user=buyer)
    orders = {}
    for name, lines in {"own": [(tea, 2)], "mixed": [(tea, 1), (wine, 1)]}.items():
        order = services.order_create(buyer=buyer, items=lines, address=address)
        services.payment_notification_handle(notice=payment_notice(order))
        orders[name] = Order.objects.get(pk=order.pk)
    refunds = {
        name: services.refund_create(order=order, amount_fen=1000, reason="破损")
        for name, order in orders.items()
    }
    op_a_refunds = brand_operator(brand_a, username="op-a-refunds")
    op_a_refunds.user_permissions.add(Permission.objects.get(codename="change_refund"))
    users = {
        "platform_admin": platform_admin(),
        "brand_operator": brand_operator(brand_a, username="op-a"),
        "brand_operator_with_refunds": op_a_refunds,
        "other_brand_operator": brand_operator(brand_b, username="op-b"),
        "finance": finance(),
        "staff_without_role": UserFactory(username="clerk", is_staff=True, openid=None),
        "shopper": buyer,
        "anonymous": None,
    }
    return {
        "brand_a": brand_a,
        "tea": tea,
        "wine": wine,
        "orders": orders,
        "refunds": refunds,
        "users": users,
    }


def client_for(user) -> APIClient:
    if user is None:
        return APIClient()
    return token_client(user) if user.is_staff else bearer_client(user)


def state() -> tuple:
    """Everything an ops endpoint could change."""
    return (
        sorted(Order.objects.values_list("id", "status", "carrier", "tracking_no", "refunded_fen")),
        sorted(OrderItem.objects.values_list("id", "shipped_quantity")),
        Shipment.objects.count(),
        sorted(Refund.objects.values_list("id", "status", "note")),
        ProductImage.objects.count(),
    )


def call(world, user, endpoint: str):
    api = client_for(user)
    orders, refunds = world["orders"], world["refunds"]
    parcel = {"carrier": "顺丰", "tracking_no": "SF1"}
    if endpoint == "ship":
        return api.post(f"/api/v1/ops/orders/{orders['own'].no}/ship", parcel, format="json")
    if endpoint == "ship_mixed":
        return api.post(f"/api/v1/ops/orders/{orders['mixed'].no}/ship", parcel, format="json")
    if endpoint in ("approve", "reject"):
        return api.post(f"/api/v1/ops/refunds/{refunds['own'].pk}/{endpoint}", {}, format="json")
    if endpoint == "approve_mixed":
        return api.post(f"/api/v1/ops/refunds/{refunds['mixed'].pk}/approve", {}, format="json")
    if endpoint == "image":
        upload = SimpleUploadedFile("cover.png", png_bytes(), content_type="image/png")
        return api.post(
            f"/api/v1/ops/products/{world['tea'].product_id}/images", {"image": upload}, format="multipart"
        )
    raise AssertionError(endpoint)


ENDPOINTS = ["ship", "ship_mixed", "approve", "reject", "approve_mixed", "image"]
EXPECTED = {
    # role: statuses in ENDPOINTS order
    "platform_admin": [200, 200, 200, 200, 200, 201],
    "brand_operator": [200, 200, 403, 403, 403, 201],
    "brand_operator_with_refunds": [200, 200, 200, 200, 403, 201],
    "other_brand_operator": [404, 200, 403, 403, 403, 404],
    "finance": [403, 403, 403, 403, 403, 403],
    "staff_without_role": [403, 403, 403, 403, 403, 403],
    "shopper": [403, 403, 403, 403, 403, 403],
    "anonymous": [401, 401, 401, 401, 401, 401],
}


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_ops_endpoint_for_every_role(world, role, endpoint):
    # given
    expected = EXPECTED[role][ENDPOINTS.index(endpoint)]
    before = state()

    # when
    response = call(world, world["users"][role], endpoint)

    # then
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert state() == before  # refused: nothing changed
        if expected == 403:
            assert error_code(response) in ("permission_denied", "not_authenticated")
    else:
        assert state() != before


# --- the reproductions of the issue, each by name -----------------------------------------------


def test_finance_and_staff_without_a_role_can_neither_ship_nor_decide_refunds(world):
    before = state()

    answers = [
        call(world, world["users"][role], endpoint).status_code
        for role in ("finance", "staff_without_role")
        for endpoint in ("ship", "approve", "reject")
    ]

    assert answers == [403] * 6
    assert state() == before
    assert Order.objects.get(pk=world["orders"]["own"].pk).status == "paid"
    assert Refund.objects.get(pk=world["refunds"]["own"].pk).status == "requested"


def test_a_brand_operator_cannot_approve_refunds_its_role_lacks(world):
    response = call(world, world["users"]["brand_operator"], "approve")

    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    assert Refund.objects.get(pk=world["refunds"]["own"].pk).status == "requested"


def test_a_brand_operator_ships_only_its_own_lines_of_a_mixed_order(world):
    # given
    order = world["orders"]["mixed"]

    # when: brand A's operator ships the mixed order without naming lines
    response = call(world, world["users"]["brand_operator"], "ship_mixed")

    # then: only A's tea is in the parcel; the wine line is unshipped and the order still paid
    assert response.status_code == 200
    lines = dict(OrderItem.objects.filter(order=order).values_list("sku_id", "shipped_quantity"))
    assert lines == {world["tea"].pk: 1, world["wine"].pk: 0}
    order.refresh_from_db()
    assert (order.status, order.tracking_no) == ("paid", "SF1")
    body = response.json()
    assert (body["total_fen"], body["paid_fen"], body["refunded_fen"]) == (9900, None, None)
    assert [i["sku_id"] for i in body["items"]] == [world["tea"].pk]


def test_a_brand_operator_sees_only_its_own_lines_amounts_in_the_admin(world):
    # given
    op = world["users"]["brand_operator"]
    mixed, own = world["orders"]["mixed"], world["orders"]["own"]

    # when
    listing = logged_in(op).get("/admin/shop/order/")
    page = logged_in(op).get(f"/admin/shop/order/{mixed.pk}/change/")
    export = logged_in(op).get("/admin/shop/order/export.csv")

    # then: the mixed order shows A's line (99.00), never its total (149.00) or paid amount
    rows = {o.pk: o for o in listing.context["cl"].result_list}
    assert (rows[mixed.pk].scoped_total_fen, rows[mixed.pk].scoped_paid_fen) == (9900, None)
    assert (rows[own.pk].scoped_total_fen, rows[own.pk].scoped_paid_fen) == (19800, 19800)
    html = page.content.decode()
    assert "149.00" not in html and "99.00" in html
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    mixed_row = next(line for line in text.splitlines() if line.startswith(mixed.no))
    assert "149.00" not in mixed_row and ",99.00,,," in mixed_row


def test_a_brand_operator_decides_only_refunds_wholly_inside_its_brand(world):
    op = world["users"]["brand_operator_with_refunds"]

    mixed = call(world, op, "approve_mixed")
    own = call(world, op, "approve")

    assert (mixed.status_code, error_code(mixed)) == (403, "permission_denied")
    assert Refund.objects.get(pk=world["refunds"]["mixed"].pk).status == "requested"
    assert (own.status_code, own.json()["status"]) == (200, "approved")


def test_image_upload_is_brand_scoped_and_permission_checked(world):
    before = ProductImage.objects.count()

    other_brand = call(world, world["users"]["other_brand_operator"], "image")
    roleless = call(world, world["users"]["staff_without_role"], "image")
    own_brand = call(world, world["users"]["brand_operator"], "image")

    assert (other_brand.status_code, roleless.status_code, own_brand.status_code) == (404, 403, 201)
    assert ProductImage.objects.count() == before + 1
    assert ProductImage.objects.get().product_id == world["tea"].product_id


def test_a_brand_operators_dashboard_counts_only_its_own_unshipped_lines(world):
    from django.utils import timezone

    from apps.console import dashboard

    op = world["users"]["brand_operator"]

    def to_ship() -> int:
        queues = dashboard.build(now=timezone.now(), user=op)["queues"]
        return next(q["count"] for q in queues if q["title"] == "订单待发货")

    before = to_ship()
    call(world, op, "ship_mixed")  # ships A's tea of the mixed order; the wine waits for brand B

    assert (before, to_ship()) == (2, 1)
    assert Order.objects.get(pk=world["orders"]["mixed"].pk).status == "paid"


def test_the_admins_refund_actions_keep_a_brand_operator_to_refunds_wholly_inside_its_brand(world):
    op = world["users"]["brand_operator_with_refunds"]
    op.user_permissions.add(Permission.objects.get(codename="view_refund"))
    refunds = world["refunds"]

    logged_in(op).post(
        "/admin/shop/refund/",
        {
            "action": "approve_refunds",
            "_selected_action": [refunds["own"].pk, refunds["mixed"].pk],
            "confirm": "yes",
        },
    )

    assert Refund.objects.get(pk=refunds["own"].pk).status == "approved"
    assert Refund.objects.get(pk=refunds["mixed"].pk).status == "requested"


def test_shipping_needs_the_same_permission_in_the_api_as_in_the_admins_csv_upload(world):
    from apps.console.shipping import can_ship

    clerk = UserFactory(username="order-clerk", is_staff=True, openid=None)
    clerk.user_permissions.add(Permission.objects.get(codename="change_order"))
    viewer = UserFactory(username="order-viewer", is_staff=True, openid=None)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))

    answers = [(can_ship(u), call(world, u, "ship").status_code) for u in (clerk, viewer)]

    assert answers == [(True, 200), (False, 403)]


def test_a_brand_operator_decides_a_refund_of_its_own_returned_lines_of_a_mixed_order(world):
    # given: on the mixed order, a refund of the tea line (brand A) and one of the wine line (brand B)
    op = world["users"]["brand_operator_with_refunds"]
    mixed = world["orders"]["mixed"]
    Refund.objects.filter(pk=world["refunds"]["mixed"].pk).update(status="rejected")
    tea_refund = services.refund_create(
        order=mixed, amount_fen=None, reason="退货", items=[{"sku_id": world["tea"].pk, "quantity": 1}]
    )
    wine_refund = services.refund_create(
        order=mixed, amount_fen=None, reason="退货", items=[{"sku_id": world["wine"].pk, "quantity": 1}]
    )
    api = token_client(op)

    # when
    tea = api.post(f"/api/v1/ops/refunds/{tea_refund.pk}/approve", {}, format="json")
    wine = api.post(f"/api/v1/ops/refunds/{wine_refund.pk}/approve", {}, format="json")

    # then: its own line's refund is its decision; the other brand's is not
    assert (tea.status_code, tea.json()["status"]) == (200, "approved")
    assert (wine.status_code, error_code(wine)) == (403, "permission_denied")
    assert Refund.objects.get(pk=wine_refund.pk).status == "requested"


def test_a_brand_operator_sees_no_money_of_a_refund_outside_its_brand_in_the_admin(world):
    # given: on the mixed order, the fixture's refund of 10.00 of the whole order, a refund of A's
    # tea line (99.00) and, once the first is rejected, one of B's wine line (50.00)
    op, admin_user = world["users"]["brand_operator"], world["users"]["platform_admin"]
    mixed = world["orders"]["mixed"]
    whole, own = world["refunds"]["mixed"], world["refunds"]["own"]
    tea = services.refund_create(
        order=mixed, amount_fen=None, reason="退货", items=[{"sku_id": world["tea"].pk, "quantity": 1}]
    )
    Refund.objects.filter(pk=whole.pk).update(status="rejected")
    wine = services.refund_create(
        order=mixed, amount_fen=None, reason="退货", items=[{"sku_id": world["wine"].pk, "quantity": 1}]
    )

    # when
    listing = logged_in(op).get("/admin/shop/refund/")
    pages = {
        r: logged_in(op).get(f"/admin/shop/refund/{r.pk}/change/").content.decode()
        for r in (whole, tea, wine)
    }
    platform = logged_in(admin_user).get("/admin/shop/refund/")

    # then: A sees the money of its own order's refund and of its tea line's, none of the others'
    rows = {r.pk: r.scoped_amount_fen for r in listing.context["cl"].result_list}
    assert rows == {own.pk: 1000, whole.pk: None, tea.pk: 9900, wine.pk: None}
    shown = {r: re.findall(r'<div class="readonly">(.*?)</div>', page, re.S) for r, page in pages.items()}
    assert not {"1000", "1,000", "10.00"} & set(shown[whole]) and "—" in shown[whole]
    assert not {"5000", "5,000", "50.00"} & set(shown[wine]) and "—" in shown[wine]
    assert world["wine"].product.title not in pages[wine]
    assert "¥99.00" in shown[tea] and any("99.00" in field and "×1" in field for field in shown[tea])
    # the platform sees every amount
    everything = {r.pk: r.scoped_amount_fen for r in platform.context["cl"].result_list}
    assert everything == {own.pk: 1000, whole.pk: 1000, tea.pk: 9900, wine.pk: 5000}


def test_approving_in_the_admin_shows_a_brand_operator_no_money_of_another_brands_refund(world):
    op = world["users"]["brand_operator_with_refunds"]
    refunds = world["refunds"]

    page = logged_in(op).post(
        "/admin/shop/refund/",
        {"action": "approve_refunds", "_selected_action": [refunds["own"].pk, refunds["mixed"].pk]},
    )

    confirmation = page.context["confirmation"]
    assert [row[0::2] for row in confirmation.rows] == [
        [refunds["own"].out_refund_no, "10.00", "破损"],
        [refunds["mixed"].out_refund_no, "—", "破损"],
    ]
    assert confirmation.button == "确认退款 1 笔，合计 ¥10.00"
    assert Refund.objects.get(pk=refunds["mixed"].pk).status == "requested"
