import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.shop import services
from apps.shop.models import Order, ProductImage, Refund
from tests.accounts.factories import UserFactory
from tests.shop.factories import SkuFactory, make_order, make_paid_order, png_bytes
from tests.shop.test_images import bomb_png, stored_files


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["order", "product", "refund", "brand", "category", "payment"])
def test_changelists_answer_200(admin_client, model):
    sku = SkuFactory()
    services.product_image_add(
        product=sku.product, upload=SimpleUploadedFile("a.png", png_bytes(), "image/png")
    )
    order = make_paid_order(sku=sku)
    services.refund_create(order=order, amount_fen=100, reason="x")

    response = admin_client.get(f"/admin/shop/{model}/")

    assert response.status_code == 200


@pytest.mark.django_db
def test_order_changelist_filters_and_searches(admin_client):
    paid = make_paid_order()
    unpaid = make_order()

    by_status = admin_client.get("/admin/shop/order/?status__exact=paid")
    by_phone = admin_client.get(f"/admin/shop/order/?q={paid.receiver_phone}")
    by_no = admin_client.get(f"/admin/shop/order/?q={unpaid.no}")

    assert list(by_status.context["cl"].queryset) == [paid]
    assert set(by_phone.context["cl"].queryset) == {paid, unpaid}  # the factory gives both one phone
    assert list(by_no.context["cl"].queryset) == [unpaid]


@pytest.mark.django_db
def test_product_change_page_shows_thumbnails(admin_client):
    sku = SkuFactory()
    image = services.product_image_add(
        product=sku.product, upload=SimpleUploadedFile("a.png", png_bytes(), "image/png")
    )

    page = admin_client.get(f"/admin/shop/product/{sku.product_id}/change/").content.decode()
    listing = admin_client.get("/admin/shop/product/").content.decode()

    assert image.thumb.url in page
    assert image.share_cover.url in page
    assert image.thumb.url in listing


def _product_form(product, sku, **extra):
    data = {
        "brand": product.brand_id,
        "category": product.category_id,
        "title": product.title,
        "description": product.description,
        "is_active": "on",
        "sales": "0",
        "skus-TOTAL_FORMS": "1",
        "skus-INITIAL_FORMS": "1",
        "skus-0-id": sku.pk,
        "skus-0-product": product.pk,
        "skus-0-spec": sku.spec,
        "skus-0-price_fen": sku.price_fen,
        "skus-0-stock": sku.stock,
        "skus-0-is_active": "on",
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "0",
        "images-0-position": "0",
    }
    data.update(extra)
    return data


@pytest.mark.django_db
def test_an_admin_upload_makes_the_variants_and_a_bad_one_stores_nothing(admin_client, _media_in_tmp):
    sku = SkuFactory()
    product = sku.product
    url = f"/admin/shop/product/{product.pk}/change/"

    bad = admin_client.post(
        url, _product_form(product, sku, **{"images-0-original": SimpleUploadedFile("x.png", bomb_png())})
    )

    assert bad.status_code == 200  # the form again, with the error
    assert "图片像素过多" in bad.content.decode()
    assert ProductImage.objects.count() == 0
    assert stored_files(_media_in_tmp) == []

    good = admin_client.post(
        url,
        _product_form(
            product, sku, **{"images-0-original": SimpleUploadedFile("x.png", png_bytes(1000, 800))}
        ),
    )

    assert good.status_code == 302
    image = ProductImage.objects.get()
    assert (image.width, image.height) == (1000, 800)
    assert image.share_cover.name.endswith("_share.jpg")
    assert len(stored_files(_media_in_tmp)) == 4


@pytest.mark.django_db
def test_the_ship_action_ships_many_orders(admin_client):
    orders = [make_paid_order() for _ in range(2)]
    unpaid = make_order()
    ids = [str(o.pk) for o in [*orders, unpaid]]

    form = admin_client.post("/admin/shop/order/", {"action": "ship_orders", ACTION_CHECKBOX_NAME: ids})
    done = admin_client.post(
        "/admin/shop/order/",
        {
            "action": "ship_orders",
            "apply": "1",
            ACTION_CHECKBOX_NAME: ids,
            "carrier": "中通",
            **{f"tracking_{o.pk}": f"ZT{o.pk}" for o in orders},
        },
    )

    assert form.status_code == 200
    assert "批量发货" in form.content.decode()
    assert done.status_code == 302
    shipped = Order.objects.filter(status="shipped").order_by("id")
    assert [(o.pk, o.carrier, o.tracking_no) for o in shipped] == [
        (o.pk, "中通", f"ZT{o.pk}") for o in orders
    ]
    assert Order.objects.get(pk=unpaid.pk).status == "pending_payment"


@pytest.mark.django_db
def test_refund_actions_approve_and_reject(admin_client):
    order = make_paid_order()
    to_approve = services.refund_create(order=order, amount_fen=100, reason="a")
    to_reject = services.refund_create(order=order, amount_fen=200, reason="b")

    admin_client.post(
        "/admin/shop/refund/",
        {"action": "approve_refunds", ACTION_CHECKBOX_NAME: [to_approve.pk], "confirm": "yes"},
    )
    admin_client.post(
        "/admin/shop/refund/", {"action": "reject_refunds", ACTION_CHECKBOX_NAME: [to_reject.pk]}
    )

    assert Refund.objects.get(pk=to_approve.pk).status == "approved"
    assert Refund.objects.get(pk=to_reject.pk).status == "rejected"


@pytest.mark.django_db
def test_order_and_refund_pages_are_read_only_views(admin_client):
    order = make_paid_order()
    refund = services.refund_create(order=order, amount_fen=100, reason="x")

    order_page = admin_client.get(f"/admin/shop/order/{order.pk}/change/")
    refund_page = admin_client.get(f"/admin/shop/refund/{refund.pk}/change/")
    add_page = admin_client.get("/admin/shop/order/add/")

    assert (order_page.status_code, refund_page.status_code, add_page.status_code) == (200, 200, 403)
    assert order.no in order_page.content.decode()
    assert refund.out_refund_no in order_page.content.decode()  # the refunds inline


@pytest.mark.django_db
def test_approving_refunds_first_shows_how_many_and_how_much_and_changes_nothing(admin_client):
    # given two requested refunds of 1,234.56 and 0.44 yuan, and one already rejected
    order = make_paid_order(sku=SkuFactory(price_fen=200_000, stock=5))
    first = services.refund_create(order=order, amount_fen=123_456, reason="破损")
    second = services.refund_create(order=order, amount_fen=44, reason="少件")
    rejected = services.refund_create(order=order, amount_fen=100, reason="x")
    services.refund_reject(refund=rejected, note="no")
    chosen = [first.pk, second.pk, rejected.pk]

    # when the action is chosen
    response = admin_client.post(
        "/admin/shop/refund/", {"action": "approve_refunds", ACTION_CHECKBOX_NAME: chosen}
    )

    # then a page says what will happen, and nothing was approved
    page = response.content.decode()
    assert response.status_code == 200
    assert "将向微信支付提交 2 笔退款，合计 ¥1,235.00，原路退回买家" in page
    assert "另有 1 笔不是“待审核”状态，不会提交" in page
    assert 'value="确认退款 2 笔，合计 ¥1,235.00"' in page
    assert page.count('name="_selected_action"') == 3 and 'name="confirm" value="yes"' in page
    assert first.out_refund_no in page and "1,234.56" in page
    assert sorted(Refund.objects.filter(pk__in=chosen).values_list("status", flat=True)) == [
        "rejected",
        "requested",
        "requested",
    ]

    # when confirmed
    admin_client.post(
        "/admin/shop/refund/", {"action": "approve_refunds", ACTION_CHECKBOX_NAME: chosen, "confirm": "yes"}
    )

    # then the two requested ones are approved
    assert Refund.objects.get(pk=first.pk).status == "approved"
    assert Refund.objects.get(pk=second.pk).status == "approved"
    assert Refund.objects.get(pk=rejected.pk).status == "rejected"
