"""Roles: a brand operator sees and ships only its brand; finance sees the books, not the catalogue."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.console import dashboard
from apps.console.roles import BRAND_OPERATOR, FINANCE, PLATFORM_ADMIN, ensure_role_groups
from apps.kocs.models import BrandInvitation, Koc
from apps.shop.models import Order, Product
from tests.accounts.factories import UserFactory
from tests.console.roles import brand_operator, finance, logged_in, platform_admin
from tests.kocs.factories import make_approved_koc
from tests.shop.factories import BrandFactory, CategoryFactory, SkuFactory, make_paid_order


@pytest.fixture
def shop(db):
    """Two brands, each with a product, a paid order and a partnered KOC; one order mixes both."""
    brand_a, brand_b = BrandFactory(name="甲茶"), BrandFactory(name="乙酒")
    sku_a = SkuFactory(product__brand=brand_a, product__title="甲·明前龙井", price_fen=9900)
    sku_b = SkuFactory(product__brand=brand_b, product__title="乙·绍兴黄酒", price_fen=5000)
    order_a = make_paid_order(sku=sku_a, quantity=2)
    order_b = make_paid_order(sku=sku_b, quantity=3)
    koc_a, koc_b = make_approved_koc(), make_approved_koc()
    BrandInvitation.objects.create(brand=brand_a, koc=koc_a, status=BrandInvitation.Status.ACCEPTED)
    BrandInvitation.objects.create(brand=brand_b, koc=koc_b, status=BrandInvitation.Status.ACCEPTED)
    # Invited but not accepted: not a partner yet, so not shown to brand A.
    BrandInvitation.objects.create(brand=brand_a, koc=koc_b, status=BrandInvitation.Status.INVITED)
    return {
        "a": brand_a,
        "b": brand_b,
        "sku_a": sku_a,
        "sku_b": sku_b,
        "order_a": order_a,
        "order_b": order_b,
        "koc_a": koc_a,
        "koc_b": koc_b,
        "op": brand_operator(brand_a),
    }


def _listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def test_the_role_groups_carry_their_permissions(db):
    # given: migrate ran the post_migrate receiver; running it again changes nothing
    ensure_role_groups()

    # when
    perms = {
        name: {
            f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()
        }
        for name in (PLATFORM_ADMIN, BRAND_OPERATOR, FINANCE)
    }

    # then
    assert {"kocs.change_koc", "shop.ship_order", "commissions.change_withdrawal"} <= perms[PLATFORM_ADMIN]
    assert not any(p.startswith("auth.") for p in perms[PLATFORM_ADMIN])
    assert {"shop.ship_order", "shop.change_product", "kocs.view_koc", "kocs.add_brandinvitation"} <= perms[
        BRAND_OPERATOR
    ]
    assert (
        not {"kocs.change_koc", "shop.view_payment", "commissions.view_ledgerentry"} & perms[BRAND_OPERATOR]
    )
    assert {
        "commissions.view_ledgerentry",
        "commissions.view_taxrecord",
        "commissions.change_withdrawal",
    } <= perms[FINANCE]
    # of the shop, finance reads only refunds (its front page's failed refunds)
    assert {p for p in perms[FINANCE] if p.startswith("shop.")} == {"shop.view_refund"}
    assert {"reconciliation.view_difference", "reconciliation.change_difference"} <= perms[FINANCE]
    assert Group.objects.filter(name__in=[PLATFORM_ADMIN, BRAND_OPERATOR, FINANCE]).count() == 3


def test_a_brand_operator_lists_only_its_brand(shop):
    client = logged_in(shop["op"])

    assert _listed(client.get("/admin/shop/product/")) == {shop["sku_a"].product_id}
    assert _listed(client.get("/admin/shop/order/")) == {shop["order_a"].pk}
    assert _listed(client.get("/admin/kocs/koc/")) == {shop["koc_a"].pk}
    assert _listed(client.get("/admin/shop/brand/")) == {shop["a"].pk}
    assert _listed(client.get("/admin/kocs/brandinvitation/")) == set(
        BrandInvitation.objects.filter(brand=shop["a"]).values_list("pk", flat=True)
    )
    page = client.get("/admin/shop/product/").content.decode()
    assert "乙酒" not in page  # not even in the brand filter


def test_platform_admin_lists_every_brand(shop):
    client = logged_in(platform_admin())

    assert _listed(client.get("/admin/shop/order/")) == {shop["order_a"].pk, shop["order_b"].pk}
    assert len(_listed(client.get("/admin/kocs/koc/"))) == Koc.objects.count()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/shop/product/{product_b}/change/",
        "/admin/shop/order/{order_b}/change/",
        "/admin/shop/order/{order_b}/history/",
        "/admin/kocs/koc/{koc_b}/change/",
        "/admin/shop/brand/{brand_b}/change/",
    ],
)
def test_another_brands_pages_do_not_open(shop, url):
    client = logged_in(shop["op"])
    ids = {
        "product_b": shop["sku_b"].product_id,
        "order_b": shop["order_b"].pk,
        "koc_b": shop["koc_b"].pk,
        "brand_b": shop["b"].pk,
    }

    response = client.get(url.format(**ids))

    # Django's admin answers a missing object with a redirect to the index and a message.
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    own = url.replace("_b}", "_a}").format(
        product_a=shop["sku_a"].product_id,
        order_a=shop["order_a"].pk,
        koc_a=shop["koc_a"].pk,
        brand_a=shop["a"].pk,
    )
    assert client.get(own).status_code == 200


def test_a_mixed_order_shows_the_operator_only_its_own_lines(shop):
    # given: one order with an item of each brand
    from apps.shop import services
    from tests.accounts.factories import AddressFactory

    buyer = UserFactory()
    mixed = services.order_create(
        buyer=buyer, items=[(shop["sku_a"], 1), (shop["sku_b"], 1)], address=AddressFactory(user=buyer)
    )

    # when
    page = logged_in(shop["op"]).get(f"/admin/shop/order/{mixed.pk}/change/").content.decode()

    # then
    assert "甲·明前龙井" in page
    assert "乙·绍兴黄酒" not in page


def test_the_personal_data_of_a_partnered_koc_stays_hidden(shop):
    Koc.objects.filter(pk=shop["koc_a"].pk).update(id_number="330102199001011234")

    page = logged_in(shop["op"]).get(f"/admin/kocs/koc/{shop['koc_a'].pk}/change/").content.decode()

    assert "330102199001011234" not in page
    assert "张三丰" not in page  # the factory's real name; only the masked form is shown


def test_exports_contain_only_the_operators_rows(shop):
    client = logged_in(shop["op"])

    orders = list(
        csv.reader(io.StringIO(b"".join(client.get("/admin/shop/order/export.csv")).decode("utf-8-sig")))
    )
    kocs = list(
        csv.reader(io.StringIO(b"".join(client.get("/admin/kocs/koc/export.csv")).decode("utf-8-sig")))
    )

    assert [row[0] for row in orders[1:]] == [shop["order_a"].no]
    assert orders[1][4] == "198.00"
    assert [row[0] for row in kocs[1:]] == [str(shop["koc_a"].pk)]


def test_exports_follow_the_admins_filters(shop):
    Order.objects.filter(pk=shop["order_b"].pk).update(status="shipped")
    client = logged_in(platform_admin())

    response = client.get("/admin/shop/order/export.csv?status__exact=shipped")
    rows = list(csv.reader(io.StringIO(b"".join(response).decode("utf-8-sig"))))
    xlsx = client.get("/admin/shop/order/export.xlsx?status__exact=paid")

    assert [row[0] for row in rows[1:]] == [shop["order_b"].no]
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [shop["order_a"].no]


def _ship(client, order, tracking_no: str):
    return client.post(
        "/admin/shop/order/",
        {
            "action": "ship_orders",
            "_selected_action": [order.pk],
            "apply": "1",
            "carrier": "顺丰",
            f"tracking_{order.pk}": tracking_no,
        },
    )


def test_the_ship_action_refuses_another_brands_order(shop):
    client = logged_in(shop["op"])

    _ship(client, shop["order_b"], "SF-B")
    _ship(client, shop["order_a"], "SF-A")

    shop["order_a"].refresh_from_db()
    shop["order_b"].refresh_from_db()
    assert (shop["order_b"].status, shop["order_b"].tracking_no) == ("paid", "")
    assert (shop["order_a"].status, shop["order_a"].tracking_no) == ("shipped", "SF-A")


def test_a_brand_operator_cannot_file_a_product_under_another_brand(shop):
    client = logged_in(shop["op"])
    category = CategoryFactory()
    form = {
        "title": "冒名商品",
        "description": "x",
        "category": category.pk,
        "sales": "0",
        "is_active": "on",
        "skus-TOTAL_FORMS": "0",
        "skus-INITIAL_FORMS": "0",
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
    }

    refused = client.post("/admin/shop/product/add/", {**form, "brand": shop["b"].pk})
    accepted = client.post("/admin/shop/product/add/", {**form, "brand": shop["a"].pk, "title": "甲·新茶"})

    assert refused.status_code == 200  # the form again, with the error
    assert not Product.objects.filter(title="冒名商品").exists()
    assert accepted.status_code == 302
    assert Product.objects.get(title="甲·新茶").brand == shop["a"]


def test_a_brand_operator_cannot_review_kocs_or_see_the_tree(shop):
    from apps.kocs import services
    from tests.kocs.factories import make_leader

    pending = services.koc_apply(user=UserFactory(), real_name="王五", invite_code=make_leader().invite_code)
    BrandInvitation.objects.create(brand=shop["a"], koc=pending, status=BrandInvitation.Status.ACCEPTED)
    client = logged_in(shop["op"])

    client.post("/admin/kocs/koc/", {"action": "approve", "_selected_action": [pending.pk], "confirm": "yes"})

    pending.refresh_from_db()
    assert pending.status == "pending"
    assert client.get("/admin/kocs/koc/tree/").status_code == 403


def test_the_affinity_page_invites_for_the_operators_brand_only(shop):
    client = logged_in(shop["op"])

    page = client.get(f"/admin/kocs/brandinvitation/affinity/?brand={shop['b'].pk}")
    client.post("/admin/kocs/brandinvitation/affinity/", {"brand": shop["b"].pk, "koc": [shop["koc_a"].pk]})

    assert page.status_code == 200
    assert page.context["brand"] == shop["a"]
    assert [b.pk for b in page.context["brands"]] == [shop["a"].pk]
    assert not BrandInvitation.objects.filter(brand=shop["b"], koc=shop["koc_a"]).exists()


def test_the_dashboard_of_a_brand_operator_counts_only_its_brand(shop):
    now = timezone.now() + timedelta(seconds=1)

    mine = dashboard.build(now=now, user=shop["op"])
    everyone = dashboard.build(now=now, user=platform_admin())

    assert (mine["totals"][0]["gmv_fen"], mine["totals"][0]["paid_orders"]) == (19800, 1)
    assert (everyone["totals"][0]["gmv_fen"], everyone["totals"][0]["paid_orders"]) == (34800, 2)
    assert mine["totals"][0]["accrued"] == "—"
    assert "乙·绍兴黄酒" not in mine["charts"]["top_products"]
    assert "乙·绍兴黄酒" in everyone["charts"]["top_products"]
    assert [q["title"] for q in mine["queues"]] == [
        "退款待审批",
        "订单待发货",
        "批量发货（CSV）",
    ]  # an operator ships its own orders in bulk too
    assert mine["queues"][1]["count"] == 1
    page = logged_in(shop["op"]).get("/admin/").content.decode()
    assert "乙·绍兴黄酒" not in page
    assert "¥198.00" in page


def test_a_brand_group_member_without_a_brand_sees_nothing(shop):
    from tests.console.roles import staff_in

    orphan = staff_in(BRAND_OPERATOR, username="orphan")

    assert _listed(logged_in(orphan).get("/admin/shop/order/")) == set()


def test_finance_opens_the_ledger_but_not_the_catalogue(db):
    client = logged_in(finance())

    assert client.get("/admin/commissions/ledgerentry/").status_code == 200
    assert client.get("/admin/commissions/withdrawal/").status_code == 200
    assert client.get("/admin/shop/product/").status_code == 403
    assert client.get("/admin/shop/order/export.csv").status_code == 403


def test_a_platform_admin_links_operators_to_brands(shop):
    client = logged_in(platform_admin())
    staff = UserFactory(username="new-op", is_staff=True, openid=None)

    listed = client.get("/admin/shop/brandoperator/")
    added = client.post("/admin/shop/brandoperator/add/", {"user": staff.pk, "brand": shop["b"].pk})

    assert listed.status_code == 200
    assert added.status_code == 302
    assert staff.brand_operator.brand == shop["b"]


def test_the_ops_api_acts_only_on_the_operators_brand(shop):
    # given: brand A's operator with an API key; a refund requested on brand B's order
    from apps.shop import services as shop_services
    from tests.helpers import token_client

    api = token_client(shop["op"])
    refund_b = shop_services.refund_create(order=shop["order_b"], amount_fen=1000, reason="破损")
    body = {"carrier": "顺丰", "tracking_no": "SF-X"}

    # when
    other_ship = api.post(f"/api/v1/ops/orders/{shop['order_b'].no}/ship", body, format="json")
    other_refund = api.post(f"/api/v1/ops/refunds/{refund_b.pk}/approve", {}, format="json")
    own_ship = api.post(f"/api/v1/ops/orders/{shop['order_a'].no}/ship", body, format="json")

    # then: another brand's order is as invisible as a missing one; refund decisions need the refund
    # permission, which the 品牌运营 role lacks in the admin too (403 before any lookup); its own ships
    assert (other_ship.status_code, other_refund.status_code, own_ship.status_code) == (404, 403, 200)
    shop["order_b"].refresh_from_db()
    refund_b.refresh_from_db()
    assert (shop["order_b"].status, refund_b.status) == ("paid", "requested")
    assert own_ship.json()["status"] == "shipped"
