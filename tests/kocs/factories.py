"""KOC test data, built through the services (the tree is only ever written under its lock)."""

from __future__ import annotations

import io
import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from PIL import Image

from apps.kocs import services
from apps.kocs.identity import with_check
from apps.kocs.models import Koc, KocSale, Level
from apps.shop.models import Brand, Category, Product, Sku
from tests.accounts.factories import UserFactory

_orders = itertools.count(1)
_names = itertools.count(1)


class LevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Level
        django_get_or_create = ("rank",)

    rank = factory.Sequence(lambda n: n + 1)
    name = factory.LazyAttribute(lambda o: f"L{o.rank}")
    commission_bonus_percent = Decimal("0")
    own_purchase_discount_percent = Decimal("0")


def make_branch(*, name: str = "", invite_code: str = "") -> Koc:
    return services.koc_create(
        role=Koc.Role.BRANCH,
        legal_name=name or f"分公司{next(_names)}有限公司",
        registration_number="91330100MA2XXXXX0X",
        invite_code=invite_code,
    )


def make_agency(*, branch: Koc | None = None, name: str = "", invite_code: str = "") -> Koc:
    return services.koc_create(
        role=Koc.Role.AGENCY,
        parent=branch or make_branch(),
        legal_name=name or f"机构{next(_names)}",
        invite_code=invite_code,
    )


_id_numbers = itertools.count(1)


def id_number() -> str:
    """A fresh resident ID number with a valid GB 11643 check digit (an invented person)."""
    n = next(_id_numbers)
    # 330106 + a birth date that moves with n (unique for 366 x 1000 people) + a 3-digit sequence
    born = date(1990, 1, 1) + timedelta(days=n // 1000)
    return with_check(f"330106{born:%Y%m%d}{n % 1000:03d}")


def make_individual(
    *, parent: Koc | None = None, role: str = Koc.Role.KOC, user=None, invite_code: str = "", **fields
) -> Koc:
    """An approved individual with a real name and a valid ID number (id_number="" for none)."""
    return services.koc_create(
        role=role,
        parent=parent,
        user=user if user is not None else UserFactory(),
        real_name=fields.pop("real_name", "张三丰"),
        id_number=fields.pop("id_number") if "id_number" in fields else id_number(),
        invite_code=invite_code,
        **fields,
    )


def make_leader(*, agency: Koc | None = None, user=None, invite_code: str = "") -> Koc:
    return make_individual(
        parent=agency or make_agency(), role=Koc.Role.LEADER, user=user, invite_code=invite_code
    )


def make_approved_koc(*, user=None, parent: Koc | None = None) -> Koc:
    """An approved KOC for `user` (used by the schema test's KOC role too)."""
    return make_individual(parent=parent, user=user if user is not None else UserFactory())


def make_sale(*, koc: Koc, amount_fen: int, completed_at: datetime | None = None, units: int = 1) -> KocSale:
    """A completed sale in the read model, as the order_completed handler would record it."""
    order_id = next(_orders) + 10_000_000
    return KocSale.objects.create(
        koc=koc,
        order_id=order_id,
        order_no=f"T{order_id}",
        paid_fen=amount_fen,
        amount_fen=amount_fen,
        units=units,
        completed_at=completed_at or timezone.now(),
    )


# --- the shop's catalogue, as much of it as these tests need ---------------------------------------


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"KOC测品牌{n}")
    max_commission_rate = Decimal("30.00")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"KOC测类目{n}")
    parent = None


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    brand = factory.SubFactory(BrandFactory)
    category = factory.SubFactory(CategoryFactory)
    title = factory.Sequence(lambda n: f"KOC测商品{n}")


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    spec = "250g"
    price_fen = 9_900
    stock = 100


def png_bytes(width: int = 120, height: int = 90) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (80, 150, 80)).save(out, format="PNG")
    return out.getvalue()
