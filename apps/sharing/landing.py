"""The landing page /s/{code}: a shared link opened outside WeChat (SMS, a browser, another app).

It shows the card (picture, title, price, who shared it) and a button that opens the mini-program
through a WeChat URL link (`wxa/generate_urllink`, cached on the link until near its expiry). A plain
Django template with inline CSS: no build step, no script. Opening it counts a visit (anonymous: by
IP and User-Agent); it binds nobody, since nobody is logged in here.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.core.money import yuan
from apps.core.throttles import client_ip
from apps.wechat.errors import WeChatError

from . import selectors, services, targets

logger = logging.getLogger(__name__)


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "sharing/landing_404.html", {"message": message}, status=404)


@require_safe
def landing_page(request: HttpRequest, code: str) -> HttpResponse:
    link = selectors.link_by_code(code)
    if link is None:
        return _not_found(request, "这个分享链接不存在或已失效")
    info = targets.resolve(link.target, link.target_id)
    if info is None:
        return _not_found(request, "分享的商品已下架或活动已结束")

    services.visit_record(
        link=link,
        visitor_key=services.visitor_key(
            user=None, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
        ),
        channel="landing",
    )
    try:
        url_link = services.url_link_ensure(link=link)
    except WeChatError:
        # The page still shows the product; the button says how to find the mini-program instead.
        logger.warning("landing %s: WeChat gave no URL link", link.code, exc_info=True)
        url_link = ""

    sharer = link.sharer
    context = {
        "link": link,
        "title": info.title,
        "image_url": info.image_url,
        "price_yuan": yuan(info.price_fen),
        "group_price_yuan": yuan(info.group_price_fen) if info.group_price_fen is not None else "",
        "group_size": info.group_size,
        "sharer_name": sharer.display_name,
        "sharer_initial": sharer.display_name[:1],
        "sharer_avatar_url": sharer.avatar_url,
        "url_link": url_link,
    }
    response = render(request, "sharing/landing.html", context)
    response["Cache-Control"] = "no-cache"
    return response
