"""Sharing test data, built through the real services of the shop, the KOC app and this app."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.sharing import services
from apps.sharing.models import BindingPolicy, ShareLink
from apps.shop import services as shop_services
from apps.shop.demo import tea_picture
from tests.accounts.factories import UserFactory
from tests.kocs.factories import make_approved_koc
from tests.shop.factories import ProductFactory, SkuFactory


def make_product(
    *, title: str = "明前龙井 250g", price_fen: int = 9900, picture: bool = False, stock: int = 100
):
    sku = SkuFactory(product=ProductFactory(title=title), price_fen=price_fen, stock=stock)
    if picture:
        shop_services.product_image_add(
            product=sku.product,
            upload=SimpleUploadedFile("tea.png", tea_picture(500, 400), content_type="image/png"),
        )
    return sku.product


def make_koc_user(**fields):
    """A user who is an approved KOC."""
    user = UserFactory(**fields)
    make_approved_koc(user=user)
    return user


def make_link(*, sharer, product=None, target: str = "product", target_id: int | None = None) -> ShareLink:
    if target_id is None:
        target_id = (product or make_product()).pk
    link, _info, _created = services.share_link_get_or_create(
        sharer=sharer, target=target, target_id=target_id
    )
    return link


def set_policy(*, mode: str, validity_days: int = 30, protection_days: int = 7) -> BindingPolicy:
    policy = BindingPolicy.load()
    policy.mode, policy.validity_days, policy.protection_days = mode, validity_days, protection_days
    policy.full_clean()
    policy.save()
    return policy
