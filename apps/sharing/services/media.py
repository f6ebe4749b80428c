"""A link's QR code, poster and URL link: made once, stored, served from storage afterwards.

WeChat limits `getwxacodeunlimit`, so a link's code is fetched exactly once: the first request takes
the link's row lock and checks again under it; every request that waited finds the stored file.
The poster is drawn under the same lock, once per content: its digest (title, prices, picture,
sharer's name) is stored with it, and a change of any of them makes the next request redraw it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.wechat import client as wechat

from .. import selectors, targets, urllink
from ..errors import ShareLinkNotFound, TargetNotFound
from ..lock_objects import share_link_lock
from ..models import ShareLink
from ..posters import render_poster
from ..targets import TargetInfo

logger = logging.getLogger(__name__)

# A URL link is replaced this long before WeChat expires it, so a page never hands out a dying one.
URL_LINK_MARGIN = timedelta(days=1)


def _get(link_id: int) -> ShareLink:
    link = ShareLink.objects.select_related("sharer").filter(pk=link_id).first()
    if link is None:
        raise ShareLinkNotFound()
    return link


def _stored(field_file) -> bool:
    return bool(field_file) and field_file.storage.exists(field_file.name)


def qr_ensure(*, link_id: int, verify_file: bool = False) -> ShareLink:
    """The link with its QR code stored, asking WeChat only if no request has done so yet.

    `verify_file` also checks that the stored file is still there (after a failed read), and asks
    WeChat again only if it is gone.
    """
    link = _get(link_id)
    if link.qr and not verify_file:
        return link
    with transaction.atomic():
        link = share_link_lock(link_id=link_id)
        if _stored(link.qr):
            return link
        png = wechat.get_wxa_code_unlimited(scene=link.scene, page=link.page)
        link.qr.save(f"{link.code}.png", ContentFile(png), save=False)
        ShareLink.objects.filter(pk=link.pk).update(qr=link.qr.name)
    return link


def qr_png(*, link_id: int) -> bytes:
    link = qr_ensure(link_id=link_id)
    try:
        return _read(link.qr)
    except OSError:
        logger.warning("share %s: stored QR code %s is unreadable; fetching it again", link.code, link.qr)
        return _read(qr_ensure(link_id=link_id, verify_file=True).qr)


def _read(field_file) -> bytes:
    with field_file.storage.open(field_file.name, "rb") as handle:
        return handle.read()


def poster_digest(*, info: TargetInfo, sharer_name: str) -> str:
    content = {
        "title": info.title,
        "price_fen": info.price_fen,
        "group_price_fen": info.group_price_fen,
        "group_size": info.group_size,
        "image_url": info.image_url,
        "sharer": sharer_name,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def poster_ensure(*, link_id: int) -> ShareLink:
    """The link with an up-to-date poster stored: drawn (with its QR code) under the link's lock.

    Idempotent: the Celery task at link creation and any later request call it; only the first one
    for the current content draws. A target that no longer exists raises TargetNotFound.
    """
    link = _get(link_id)
    info = targets.resolve(link.target, link.target_id)
    if info is None:
        raise TargetNotFound()
    sharer_name = link.sharer.display_name
    digest = poster_digest(info=info, sharer_name=sharer_name)
    if link.poster and link.poster_digest == digest:
        return link
    with transaction.atomic():
        link = share_link_lock(link_id=link_id)
        if _stored(link.poster) and link.poster_digest == digest:
            return link
        png = render_poster(
            product_image=info.image_bytes(),
            title=info.title,
            price_fen=info.price_fen,
            sharer_name=sharer_name,
            qr_png=qr_png(link_id=link.pk),
            group_price_fen=info.group_price_fen,
            group_size=info.group_size,
        )
        old = link.poster.name if link.poster else ""
        link.poster.save(f"{link.code}-{digest[:10]}.png", ContentFile(png), save=False)
        ShareLink.objects.filter(pk=link.pk).update(poster=link.poster.name, poster_digest=digest)
        link.poster_digest = digest
        if old and old != link.poster.name:
            storage = link.poster.storage
            transaction.on_commit(lambda: storage.delete(old))
    return link


def poster_png(*, link_id: int) -> bytes:
    link = poster_ensure(link_id=link_id)
    try:
        return _read(link.poster)
    except OSError:
        logger.warning("share %s: stored poster %s is unreadable; drawing it again", link.code, link.poster)
        ShareLink.objects.filter(pk=link_id).update(poster_digest="")
        return _read(poster_ensure(link_id=link_id).poster)


def url_link_ensure(*, link: ShareLink, now: datetime | None = None) -> str:
    """A URL link that opens the link's page in the mini-program, cached on the link until near expiry.

    Two first requests at once may both ask WeChat; the later answer wins and both links work.
    """
    now = now or timezone.now()
    if link.url_link and link.url_link_expires_at and link.url_link_expires_at - URL_LINK_MARGIN > now:
        return link.url_link
    url = urllink.generate_url_link(page=link.page, query=selectors.query_for(link), days=urllink.MAX_DAYS)
    expires_at = now + timedelta(days=urllink.MAX_DAYS)
    ShareLink.objects.filter(pk=link.pk).update(url_link=url, url_link_expires_at=expires_at)
    link.url_link, link.url_link_expires_at = url, expires_at
    return url
