"""The demo campaign of docs/api.md: 明前龙井 250g, 3-person groups at 6900 fen, 24 hours, 2 per user.

Runs after the shop's seed (which makes the product). Idempotent: a second run finds the campaign
and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.shop.demo import PRODUCT
from apps.shop.models import Product, Sku

from .models import Campaign

ORDER = 30


def seed(stdout) -> None:
    product = Product.objects.filter(title=PRODUCT).first()
    sku = Sku.objects.filter(product=product, spec="250g").first() if product else None
    if sku is None:
        stdout.write("groupbuys: no demo product, no campaign")
        return
    campaign = Campaign.objects.filter(product=product, sku=sku, group_size=3, group_price_fen=6900).first()
    if campaign is None:
        now = timezone.now()
        campaign = Campaign(
            product=product,
            sku=sku,
            group_price_fen=6900,
            group_size=3,
            duration_minutes=24 * 60,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=365),
            per_user_limit=2,
            is_active=True,
        )
        campaign.full_clean()
        campaign.save()
    stdout.write(f"groupbuys: campaign #{campaign.pk} {product.title} 3人团 ¥69.00")
