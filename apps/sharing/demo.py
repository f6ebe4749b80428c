"""The demo share link: KOC mia (`sandbox-koc-mia`) sharing 明前龙井 250g.

Runs after the shop's seed (the product) and the KOC team's (mia); when either is missing it says
so and does nothing. Idempotent: sharing the same product again answers the same link.
"""

from __future__ import annotations

from apps.accounts.models import User
from apps.shop.demo import PRODUCT
from apps.shop.models import Product

from . import selectors, services

ORDER = 40
SHARER_OPENID = "sandbox-koc-mia"


def seed(stdout) -> None:
    product = Product.objects.filter(title=PRODUCT, is_active=True).first()
    mia = User.objects.filter(openid=SHARER_OPENID).first()
    if product is None or mia is None or selectors.approved_koc_of(user_id=mia.pk) is None:
        stdout.write("sharing: no demo product or no approved KOC mia yet, no share link")
        return
    link, _info, created = services.share_link_get_or_create(
        sharer=mia, target="product", target_id=product.pk
    )
    stdout.write(f"sharing: {'made' if created else 'kept'} mia's link /s/{link.code}")
