from __future__ import annotations

import io
import secrets
from decimal import Decimal

import factory
from django.utils import timezone
from PIL import Image

from apps.shop import services
from apps.shop.models import Brand, Category, Order, Product, Sku
from apps.wechat import pay as wechatpay
from tests.accounts.factories import AddressFactory, UserFactory


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"品牌{n}")
    intro = "好茶"
    max_commission_rate = Decimal("30.00")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"类目{n}")
    parent = None


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    brand = factory.SubFactory(BrandFactory)
    category = factory.SubFactory(CategoryFactory)
    title = factory.Sequence(lambda n: f"商品{n}")
    description = "描述"


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    spec = "250g"
    price_fen = 9900
    stock = 100


def png_bytes(width: int = 120, height: int = 90, color=(80, 150, 80), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format=fmt)
    return out.getvalue()


def make_order(*, buyer=None, sku=None, quantity: int = 1, address=None, **kwargs) -> Order:
    """An unpaid order made by the real service (stock reserved, prices snapshotted)."""
    buyer = buyer or UserFactory()
    sku = sku or SkuFactory()
    address = address or AddressFactory(user=buyer)
    return services.order_create(buyer=buyer, items=[(sku, quantity)], address=address, **kwargs)


def payment_notice(
    order: Order, *, amount_fen: int | None = None, transaction_id: str | None = None, **overrides
):
    """A verified payment notification for `order`, as the gateway hands it to the shop."""
    config = wechatpay.pay_config()
    fields = {
        "event_type": "TRANSACTION.SUCCESS",
        "appid": config.appid,
        "mchid": config.mchid,
        "out_trade_no": order.no,
        "transaction_id": transaction_id or f"4200{secrets.randbelow(10**24):024d}",
        "trade_state": "SUCCESS",
        "amount_total": order.total_fen if amount_fen is None else amount_fen,
        "payer_total": order.total_fen if amount_fen is None else amount_fen,
        "payer_openid": order.buyer.openid or "",
        "success_time": timezone.now(),
        "raw": {},
        **overrides,
    }
    return wechatpay.PaymentNotice(**fields)


def make_paid_order(**kwargs) -> Order:
    order = make_order(**kwargs)
    services.payment_notification_handle(notice=payment_notice(order))
    order.refresh_from_db()
    return order
