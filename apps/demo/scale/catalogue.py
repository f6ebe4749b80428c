"""The scale demo's brands, products and SKUs, and the group-buy campaign (found again on a rerun)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from apps.groupbuys.models import Campaign
from apps.shop.models import Brand, Category, Product, Sku

from .plan import CATALOGUE, DAYS, GROUP_PRICE_FEN, GROUP_PRODUCT, GROUP_SIZE


def catalogue() -> list[Sku]:
    skus = []
    for brand_name, cap, products in CATALOGUE:
        brand, _ = Brand.objects.get_or_create(
            name=brand_name, defaults={"max_commission_rate": Decimal(cap), "intro": "规模测试品牌"}
        )
        for path, title, spec, price in products:
            parent = None
            for name in path:
                parent = Category.objects.filter(name=name, parent=parent).first() or Category.objects.create(
                    name=name, parent=parent
                )
            product, _ = Product.objects.get_or_create(
                title=title,
                brand=brand,
                defaults={"category": parent, "description": f"{title}，规模测试商品。"},
            )
            sku, _ = Sku.objects.get_or_create(
                product=product, spec=spec, defaults={"price_fen": price, "stock": 10_000_000}
            )
            skus.append(sku)
    return skus


def campaign(skus: list[Sku], now: datetime) -> Campaign:
    sku = next(s for s in skus if s.product.title == GROUP_PRODUCT)
    found = Campaign.objects.filter(sku=sku, group_price_fen=GROUP_PRICE_FEN).first()
    if found is not None:
        return found
    made = Campaign(
        product=sku.product,
        sku=sku,
        group_price_fen=GROUP_PRICE_FEN,
        group_size=GROUP_SIZE,
        duration_minutes=24 * 60,
        starts_at=now - timedelta(days=DAYS + 1),
        ends_at=now + timedelta(days=365),
        per_user_limit=5,
        is_active=True,
    )
    made.full_clean()
    made.save()
    return made
