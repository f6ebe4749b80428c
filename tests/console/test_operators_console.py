"""The console operators work in (issue 16): yuan typed and read, names instead of ids, each object's
History, each role's front page, the admin's own 403 page."""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.commissions.models import LedgerEntry, PayoutSettings
from apps.core.money import YuanParseError, parse_yuan
from apps.core.money_admin import YuanAdminMixin, fen_fields
from apps.shop import services as shop_services
from apps.shop.models import Order
from tests.accounts.factories import UserFactory
from tests.commissions.factories import earn_available, make_team
from tests.console.roles import brand_operator, finance, logged_in, platform_admin
from tests.shop.factories import BrandFactory, SkuFactory, make_paid_order

pytestmark = pytest.mark.django_db


# --- yuan --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "fen"),
    [("12.34", 1234), ("12", 1200), ("1,234.5", 123450), ("¥0.01", 1), (" 99.00 元", 9900), ("-3.5", -350)],
)
def test_yuan_as_people_type_it_is_fen(typed, fen):
    assert parse_yuan(typed) == fen


@pytest.mark.parametrize(
    ("typed", "code"), [("12.345", "too_precise"), ("abc", "invalid"), ("1e999", "invalid")]
)
def test_what_is_not_an_amount_is_refused_not_rounded(typed, code):
    with pytest.raises(YuanParseError) as caught:
        parse_yuan(typed)
    assert caught.value.code == code


def test_every_admin_with_a_fen_field_reads_and_types_yuan():
    missing = []
    for model, model_admin in django_admin.site._registry.items():
        if model._meta.app_label == "kocs":
            continue  # the KOC console's own
        if fen_fields(model) and not isinstance(model_admin, YuanAdminMixin):
            missing.append(f"{model.__name__}Admin")
        for inline in model_admin.inlines:
            if fen_fields(inline.model) and not issubclass(inline, YuanAdminMixin):
                missing.append(f"{model.__name__}Admin.{inline.__name__}")
    assert missing == []


@pytest.fixture
def platform(db):
    return logged_in(platform_admin())


def _settings_form(settings_row, **changes):
    return {
        "min_withdrawal_fen": "1.00",
        "daily_max_fen": "20,000.00",
        "transfer_remark": settings_row.transfer_remark or "佣金提现",
        "b2b_invoice_required": "on" if settings_row.b2b_invoice_required else "",
        **changes,
    }


def test_typing_12_34_yuan_stores_1234_fen(platform):
    row = PayoutSettings.load()
    page = platform.get(f"/admin/commissions/payoutsettings/{row.pk}/change/").content.decode()
    assert 'inputmode="decimal"' in page  # the amounts are typed as yuan

    response = platform.post(
        f"/admin/commissions/payoutsettings/{row.pk}/change/", _settings_form(row, min_withdrawal_fen="12.34")
    )

    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.min_withdrawal_fen, row.daily_max_fen) == (1234, 2_000_000)
    # and the page shows it back in yuan
    page = platform.get(f"/admin/commissions/payoutsettings/{row.pk}/change/").content.decode()
    assert 'value="12.34"' in page and 'value="20,000.00"' in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12.345", "金额最多两位小数（到分）。"),
        ("十二块", "请输入以元为单位的金额，例如 12.34。"),
        ("-1", "金额不能低于 ¥0.00。"),
    ],
)
def test_a_bad_amount_is_a_clear_form_error_and_nothing_is_saved(platform, typed, message):
    row = PayoutSettings.load()
    before = (row.min_withdrawal_fen, row.daily_max_fen)

    response = platform.post(
        f"/admin/commissions/payoutsettings/{row.pk}/change/", _settings_form(row, min_withdrawal_fen=typed)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["min_withdrawal_fen"] == [message]
    row.refresh_from_db()
    assert (row.min_withdrawal_fen, row.daily_max_fen) == before


def test_the_error_reads_in_english_under_en(platform):
    row = PayoutSettings.load()
    response = platform.post(
        f"/admin/commissions/payoutsettings/{row.pk}/change/",
        _settings_form(row, min_withdrawal_fen="12.345"),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.context["adminform"].form.errors["min_withdrawal_fen"] == [
        "An amount has at most two decimals (fen)."
    ]


def test_a_sku_price_typed_in_yuan_on_the_product_page(platform):
    sku = SkuFactory(price_fen=9900)
    product = sku.product
    page = platform.get(f"/admin/shop/product/{product.pk}/change/").content.decode()
    assert 'value="99.00"' in page

    form = {
        "brand": product.brand_id,
        "category": product.category_id,
        "title": product.title,
        "description": "",
        "sales": product.sales,
        "is_active": "on",
        "skus-TOTAL_FORMS": "1",
        "skus-INITIAL_FORMS": "1",
        "skus-0-id": sku.pk,
        "skus-0-product": product.pk,
        "skus-0-spec": sku.spec,
        "skus-0-price_fen": "128.80",
        "skus-0-stock": sku.stock,
        "skus-0-is_active": "on",
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
    }
    response = platform.post(f"/admin/shop/product/{product.pk}/change/", form)

    assert response.status_code == 302, response.context and (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
    )
    sku.refresh_from_db()
    assert sku.price_fen == 12880


# --- names, not ids ---------------------------------------------------------------------------------------


@pytest.fixture
def earned(db):
    team = make_team()
    team["mia"].user.phone = "13812345678"
    team["mia"].user.nickname = "米娅小店"
    team["mia"].user.save()
    order = earn_available(team["mia"], 700)
    earn_available(team["ava"], 300)
    return team, order


def _listed(client, url: str) -> list:
    response = client.get(url)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_finance_reads_the_ledger_by_name_and_masked_phone_not_ids(earned):
    team, _ = earned
    page = logged_in(finance()).get("/admin/commissions/ledgerentry/").content.decode()
    assert "米娅小店" in page and "138****5678" in page
    assert f'href="/admin/kocs/koc/{team["mia"].pk}/change/"' in page
    assert "13812345678" not in page
    assert "¥" in page  # amounts in yuan


@pytest.mark.parametrize("term", ["米娅", "13812345678", "5678"])
def test_finance_finds_a_kocs_ledger_by_name_or_phone(earned, term):
    team, _ = earned
    rows = _listed(logged_in(finance()), f"/admin/commissions/ledgerentry/?q={term}")
    assert rows and {r.koc_id for r in rows} == {team["mia"].pk}


def test_finance_finds_the_ledger_of_an_order_by_its_number(earned):
    _team, payload = earned
    order_no = payload["order_no"]
    rows = _listed(logged_in(finance()), f"/admin/commissions/ledgerentry/?q={order_no}")
    assert rows and {r.order_id for r in rows} == {payload["order_id"]}
    assert LedgerEntry.objects.filter(order_id=payload["order_id"]).count() == len(rows)


def test_withdrawals_and_tax_are_searched_by_name_too(earned):
    client = logged_in(finance())
    assert client.get("/admin/commissions/withdrawal/?q=米娅").status_code == 200
    assert client.get("/admin/commissions/taxrecord/?q=米娅").status_code == 200
    assert client.get("/admin/commissions/commission/?q=米娅").context["cl"].result_count >= 1


def test_balances_read_as_labelled_yuan_not_one_english_string(earned):
    _team, _ = earned
    page = logged_in(finance()).get("/admin/commissions/account/").content.decode()
    # mia: 7.00 of her own and 0.90 as ava's upline (3% of 30.00)
    assert "可提现: ¥7.90<br>冻结中: ¥0.00<br>" in page
    assert "available" not in page.split('id="result_list"')[1]


def test_orders_are_found_by_buyer_name_and_filtered_by_brand_and_koc(platform):
    tea, wine = BrandFactory(name="西湖茶社"), BrandFactory(name="绍兴酒坊")
    buyer = UserFactory(nickname="王小二")
    mine = make_paid_order(buyer=buyer, sku=SkuFactory(product__brand=tea))
    other = make_paid_order(sku=SkuFactory(product__brand=wine))
    koc = make_team()["mia"]
    koc.user.nickname = "米娅小店"
    koc.user.save()
    Order.objects.filter(pk=other.pk).update(attributed_koc_id=koc.pk)

    assert {o.pk for o in _listed(platform, "/admin/shop/order/?q=王小二")} == {mine.pk}
    assert {o.pk for o in _listed(platform, f"/admin/shop/order/?q={mine.no}")} == {mine.pk}
    assert {o.pk for o in _listed(platform, f"/admin/shop/order/?brand={tea.pk}")} == {mine.pk}
    assert {o.pk for o in _listed(platform, "/admin/shop/order/?koc=米娅")} == {other.pk}
    page = platform.get("/admin/shop/order/?koc=米娅").content.decode()
    assert "米娅小店" in page  # the attributed KOC's name, linked


def test_an_orders_page_reads_its_address_and_attribution_and_has_no_save_button(platform):
    order = make_paid_order()
    page = platform.get(f"/admin/shop/order/{order.pk}/change/").content.decode()
    address = order.address
    assert f"{address['province']} {address['city']}" in page
    assert "{&#x27;" not in page and "{'" not in page  # no JSON dump
    assert "无 KOC：直接销售" in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page


def test_an_operator_is_linked_to_a_brand_by_username(platform):
    staff = UserFactory(username="new-op", is_staff=True, openid=None)
    UserFactory(username="new-shopper", is_staff=False)
    brand = BrandFactory()

    page = platform.get("/admin/shop/brandoperator/add/").content.decode()
    found = platform.get(
        "/admin/autocomplete/",
        {"term": "new-", "app_label": "shop", "model_name": "brandoperator", "field_name": "user"},
    ).json()

    assert "admin-autocomplete" in page  # typed, not a numeric id box
    assert [r["text"] for r in found["results"]] == [str(staff)]  # staff only
    assert (
        platform.post("/admin/shop/brandoperator/add/", {"user": staff.pk, "brand": brand.pk}).status_code
        == 302
    )


# --- history ---------------------------------------------------------------------------------------


def test_shipping_is_on_the_orders_history_whoever_shipped(platform, django_user_model):
    order = make_paid_order()
    shipper = UserFactory(username="ops-ship", is_staff=True, openid=None)
    shop_services.order_ship(order=order, carrier="顺丰", tracking_no="SF1", user=shipper)

    page = platform.get(f"/admin/shop/order/{order.pk}/history/").content.decode()

    assert "发货：顺丰 SF1" in page and "ops-ship" in page
    assert "下单" in page and "支付 ¥" in page


def test_refunds_are_on_the_refunds_and_the_orders_history(platform):
    order = make_paid_order()
    refund = shop_services.refund_create(order=order, amount_fen=100, reason="破损")
    platform.post("/admin/shop/refund/", {"action": "reject_refunds", ACTION_CHECKBOX_NAME: [refund.pk]})

    refund_history = platform.get(f"/admin/shop/refund/{refund.pk}/history/").content.decode()
    order_history = platform.get(f"/admin/shop/order/{order.pk}/history/").content.decode()

    assert "申请退款" in refund_history and "¥1.00" in refund_history
    assert "已拒绝退款（后台）：待审核 → 已拒绝" in refund_history
    assert "申请退款" in order_history


def test_a_rule_set_activation_is_on_its_history(platform):
    from apps.commissions.services import rules as rule_services

    rule_set = rule_services.ruleset_create(name="新方案")
    rule_services.rule_add(rule_set=rule_set, name="直推", kind="sales", level=0, rate_percent="10")
    platform.post(
        "/admin/commissions/ruleset/",
        {"action": "activate", ACTION_CHECKBOX_NAME: [rule_set.pk], "confirm": "yes"},
    )
    rule_set.refresh_from_db()
    assert rule_set.status == "active"

    page = platform.get(f"/admin/commissions/ruleset/{rule_set.pk}/history/").content.decode()

    assert f"启用规则集 v{rule_set.version}（通过合规检查）" in page
    assert "启用：自" in page


# --- front pages and 403 -------------------------------------------------------------------------


def test_each_roles_tiles_open(db):
    tea = BrandFactory()
    for user in (platform_admin(), brand_operator(tea), finance()):
        client = logged_in(user)
        board = client.get("/admin/").context["dashboard"]
        tiles = board["finance_queues"] if board["finance"] else board["queues"]
        assert tiles, user
        for tile in tiles:
            assert client.get(tile["url"]).status_code == 200, (user.username, tile["title"], tile["url"])


def test_finance_gets_its_own_front_page(db):
    client = logged_in(finance())
    board = client.get("/admin/").context["dashboard"]
    assert board["finance"] is True
    assert [str(t["title"]) for t in board["finance_queues"]][:3] == ["提现处理中", "提现失败", "退款失败"]
    assert any("应申报个税" in str(t["title"]) for t in board["finance_queues"])
    assert str(board["finance_queues"][-1]["title"]) == "对账差异（未处理）"


def test_a_page_a_role_may_not_open_is_the_admins_own_403(db):
    response = logged_in(finance()).get("/admin/shop/product/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "您没有打开此页面的权限。" in page
    assert 'id="user-tools"' in page  # the admin's header: the way back
    assert "返回控制台" in page
