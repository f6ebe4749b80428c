"""The tier benefit 'a lower own purchase price' (自购价), offered to the shop as a price policy.

The shop owns the interface (apps.shop.pricing): it asks every registered policy for an offer on a
SKU for a buyer and takes the lowest. The shop never imports this app; this app registers itself
in KocsConfig.ready().
"""

from __future__ import annotations

from decimal import Decimal

from apps.core.money import round_fen

from .models import Koc


def tier_unit_price(*, buyer, list_price_fen: int) -> tuple[int, str] | None:
    """(discounted unit price, source) when `buyer` is an approved KOC whose level has a discount."""
    if buyer is None or not getattr(buyer, "is_authenticated", False):
        return None
    koc = (
        Koc.objects.select_related("level")
        .filter(user_id=buyer.pk, status=Koc.Status.APPROVED, role__in=Koc.INDIVIDUAL_ROLES)
        .first()
    )
    if koc is None or koc.level is None or koc.level.own_purchase_discount_percent <= 0:
        return None
    percent = Decimal(koc.level.own_purchase_discount_percent)
    price = round_fen(Decimal(list_price_fen) * (Decimal(100) - percent) / Decimal(100))
    return price, f"tier:{koc.level.name}"


def tier_price_policy(buyer, sku):
    """The shop's PricePolicy: a KOC buying for themself pays their level's own-purchase price."""
    from apps.shop.pricing import PriceOffer

    offer = tier_unit_price(buyer=buyer, list_price_fen=sku.price_fen)
    if offer is None:
        return None
    return PriceOffer(unit_price_fen=offer[0], source=offer[1])
