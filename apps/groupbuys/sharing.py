"""The share targets of group buys, for the sharing app's registry (registered in hooks.register):
"group_buy" (a campaign) and "group" (one forming group). Two queries each; no writes."""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils import timezone

from apps.shop import selectors as shop_selectors
from apps.shop.models import ProductImage

from . import conf
from .models import Campaign, Group

CAMPAIGN_PAGE = "pages/groupbuy/index"


def _reader(field_file):
    def load() -> bytes | None:
        with field_file.storage.open(field_file.name, "rb") as handle:
            return handle.read()

    return load


def _card(campaign: Campaign, *, title: str, page: str):
    from apps.sharing.targets import TargetInfo

    cover = shop_selectors.product_cover(campaign.product)
    picture = (cover.display or cover.original) if cover else None
    return TargetInfo(
        title=title,
        price_fen=campaign.sku.price_fen,
        page=page,
        image_url=(shop_selectors.media_url(cover.share_cover) if cover else None) or "",
        load_image=_reader(picture) if picture else None,
        group_price_fen=campaign.group_price_fen,
        group_size=campaign.group_size,
    )


def _campaigns():
    images = Prefetch("product__images", queryset=ProductImage.objects.order_by("position", "id"))
    return Campaign.objects.select_related("product", "sku").prefetch_related(images)


def group_buy_target(campaign_id: int):
    """A campaign that is switched on and has not ended (one not started yet can be announced)."""
    campaign = _campaigns().filter(pk=campaign_id, is_active=True, ends_at__gt=timezone.now()).first()
    if campaign is None:
        return None
    return _card(campaign, title=f"{campaign.group_size}人团 {campaign.product.title}", page=CAMPAIGN_PAGE)


def group_target(group_id: int):
    """A group that can still be joined: forming, before its deadline, its campaign switched on."""
    group = (
        Group.objects.filter(
            pk=group_id, status=Group.Status.FORMING, expires_at__gt=timezone.now(), campaign__is_active=True
        )
        .only("id", "campaign_id", "size", "joined")
        .first()
    )
    if group is None:
        return None
    campaign = _campaigns().get(pk=group.campaign_id)
    left = max(0, group.size - group.joined)
    title = (
        f"还差{left}人成团 {campaign.product.title}" if left else f"{group.size}人团 {campaign.product.title}"
    )
    return _card(campaign, title=title, page=conf.group_page())
