"""Reads for the shop: catalogue lists in a fixed number of queries, the buyer's own orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Min, Prefetch, Q, QuerySet
from mptt.utils import get_cached_trees

from . import catalogue_hooks
from .models import Brand, Category, Order, Product, ProductImage, Refund, Sku

PRODUCT_ORDERINGS = {
    "price_fen": ("price_fen", "-id"),
    "-price_fen": ("-price_fen", "-id"),
    "-sales": ("-sales", "-id"),
}


def media_url(file) -> str | None:
    """An absolute URL for a stored file (API answers are read by the mini-program, not a browser)."""
    if not file:
        return None
    url = file.url
    return url if url.startswith(("http://", "https://")) else f"{settings.PUBLIC_BASE_URL}{url}"


def brand_list() -> QuerySet[Brand]:
    return Brand.objects.filter(is_active=True).order_by("id")


def brand_get(*, brand_id: int) -> Brand | None:
    return brand_list().filter(pk=brand_id).first()


def category_tree() -> list[Category]:
    """Active categories as root nodes with `get_children()` answered from memory: one query."""
    nodes = Category.objects.filter(is_active=True).order_by("tree_id", "lft")
    return get_cached_trees(nodes)


def _images_prefetch() -> Prefetch:
    return Prefetch("images", queryset=ProductImage.objects.order_by("position", "id"))


def product_list(
    *, category_id: int | None = None, brand_id: int | None = None, q: str = "", ordering: str = ""
) -> QuerySet[Product]:
    """Active products with their lowest active SKU price as `price_fen`.

    The category filter takes its whole subtree (MPTT: same tree, lft..rght), in one subquery.
    """
    qs = (
        Product.objects.filter(is_active=True, brand__is_active=True)
        .select_related("brand")
        .annotate(price_fen=Min("skus__price_fen", filter=Q(skus__is_active=True)))
        .filter(price_fen__isnull=False)  # nothing to buy: not listed
        .prefetch_related(_images_prefetch())
    )
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    if category_id is not None:
        root = Category.objects.filter(pk=category_id)
        subtree = Category.objects.filter(
            tree_id__in=root.values("tree_id"),
            lft__gte=root.values("lft")[:1],
            rght__lte=root.values("rght")[:1],
        )
        qs = qs.filter(category_id__in=subtree.values("pk"))
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(description__icontains=q) | Q(brand__name__icontains=q))
    return qs.order_by(*PRODUCT_ORDERINGS.get(ordering, ("-id",)))


def product_get(*, product_id: int) -> Product | None:
    return (
        product_list()
        .prefetch_related(
            Prefetch("skus", queryset=Sku.objects.filter(is_active=True).order_by("price_fen", "id"))
        )
        .filter(pk=product_id)
        .first()
    )


def product_cover(product: Product) -> ProductImage | None:
    """The first image, from the prefetched `images` (no query when prefetched)."""
    images = list(product.images.all())
    return images[0] if images else None


def group_buy_summaries(products: list[Product]) -> dict[int, dict[str, Any]]:
    return catalogue_hooks.group_buy_summaries(p.pk for p in products)


def group_buy_window(products: list[Product]) -> tuple[dict[int, dict[str, Any]], datetime | None]:
    """The products' group-buy summaries and the moment they next change by themselves (a campaign
    starting or ending), or None: how long an answer showing them may be kept."""
    return catalogue_hooks.group_buy_window(p.pk for p in products)


def product_card(*, product_id: int) -> dict[str, Any] | None:
    """What a share card shows of a product (for the sharing app): title, price, 5:4 cover."""
    product = product_list().filter(pk=product_id).first()
    if product is None:
        return None
    cover = product_cover(product)
    return {
        "id": product.pk,
        "title": product.title,
        "brand_id": product.brand_id,
        "price_fen": product.price_fen,
        "share_image_url": media_url(cover.share_cover) if cover else None,
        "cover_url": media_url(cover.display) if cover else None,
    }


# An order's answer: its lines and its parcels with their lines (three queries for any page).
ORDER_PREFETCH = ("items", "shipments__items")


def order_list(*, buyer, status: str | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(buyer=buyer).prefetch_related(*ORDER_PREFETCH).order_by("-id")
    if status:
        qs = qs.filter(status=status)
    return qs


def order_get(*, buyer, order_id: int) -> Order | None:
    """The buyer's own order, or None: another user's id is indistinguishable from a missing one."""
    return order_list(buyer=buyer).filter(pk=order_id).first()


def order_get_by_no(*, no: str) -> Order | None:
    return Order.objects.filter(no=no).prefetch_related(*ORDER_PREFETCH).first()


def refund_get(*, refund_id: int) -> Refund | None:
    return Refund.objects.select_related("order").filter(pk=refund_id).first()


def order_refunds(*, order: Order) -> QuerySet[Refund]:
    return Refund.objects.filter(order=order).prefetch_related("items__order_item").order_by("-id")
