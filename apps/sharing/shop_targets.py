"""The "product" share target, read from the shop (registered in SharingConfig.ready())."""

from __future__ import annotations

from apps.shop import selectors as shop_selectors

from .targets import TargetInfo

PRODUCT_PAGE = "pages/product/index"


def _reader(field_file):
    def load() -> bytes | None:
        if not field_file:
            return None
        with field_file.storage.open(field_file.name, "rb") as handle:
            return handle.read()

    return load


def resolve_product(product_id: int) -> TargetInfo | None:
    """An active product that can be bought (it has an active SKU); its lowest price. Two queries,
    plus the group-buy summary when the group-buy app provides one."""
    product = shop_selectors.product_list().filter(pk=product_id).first()
    if product is None:
        return None
    cover = shop_selectors.product_cover(product)
    summary = shop_selectors.group_buy_summaries([product]).get(product.pk) or {}
    picture = None
    if cover is not None:
        picture = cover.display or cover.original
    return TargetInfo(
        title=product.title,
        price_fen=int(product.price_fen),
        page=PRODUCT_PAGE,
        image_url=(shop_selectors.media_url(cover.share_cover) if cover else None) or "",
        load_image=_reader(picture) if picture else None,
        group_price_fen=summary.get("group_price_fen"),
        group_size=summary.get("group_size"),
    )
