"""Share links: one per (sharer, target), created with an unguessable code; opening one counts a visit."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.errors import InvalidInput

from .. import codes, read_cache, targets
from ..errors import TargetNotFound
from ..models import ShareLink
from ..targets import TargetInfo
from . import bindings
from .visits import visit_record

logger = logging.getLogger(__name__)

CODE_ATTEMPTS = 5


def _check_target(target: str) -> None:
    if targets.is_registered(target):
        return
    allowed = targets.registered_targets()
    hint = (
        gettext("Shareable: %(targets)s") % {"targets": ", ".join(allowed)}
        if allowed
        else gettext("Nothing can be shared yet.")
    )
    message = gettext("“%(target)s” cannot be shared. %(hint)s") % {"target": target, "hint": hint}
    raise InvalidInput(
        gettext("The share target is not valid."), code="validation_error", fields={"target": [message]}
    )


def _card_fields(info: TargetInfo) -> dict[str, str]:
    image_url = info.image_url or ""
    if not image_url.startswith(("https://", "http://")) or len(image_url) > 500:
        image_url = ""  # WeChat needs an absolute URL; without one it shows a screenshot of the page
    return {
        "title": (info.title or "")[:120],
        "image_url": image_url,
        "page": info.page.strip("/")[:128],
    }


@transaction.atomic
def share_link_get_or_create(*, sharer, target: str, target_id: int) -> tuple[ShareLink, TargetInfo, bool]:
    """The sharer's link to the target, made on the first share; (link, target card, created).

    The same sharer sharing the same target again gets the same link (its card refreshed). Anyone
    logged in may share (that is how groups fill); only links of approved KOCs bind customers and
    earn. The poster is drawn by a Celery task once the link is committed.

    A code collision or a concurrent first share of the same target hits a unique constraint: the
    first retries with a new code, the second answers the link the other request made.
    """
    _check_target(target)
    info = targets.resolve(target, target_id)
    if info is None:
        raise TargetNotFound()
    card = _card_fields(info)

    existing = ShareLink.objects.filter(sharer=sharer, target=target, target_id=target_id).first()
    if existing is not None:
        return _refreshed(existing, card), info, False

    for _attempt in range(CODE_ATTEMPTS):
        code = codes.new_code()
        link = ShareLink(
            code=code, scene=codes.scene_for(code), sharer=sharer, target=target, target_id=target_id, **card
        )
        link.full_clean(
            exclude=["qr", "poster", "url_link"], validate_unique=False, validate_constraints=False
        )
        try:
            with transaction.atomic():
                link.save()
        except IntegrityError:
            existing = ShareLink.objects.filter(sharer=sharer, target=target, target_id=target_id).first()
            if existing is not None:
                return _refreshed(existing, card), info, False
            logger.warning("share code collision on %s; drawing another", code)
            continue
        _render_poster_on_commit(link.pk)
        return link, info, True
    raise RuntimeError(f"no free share code after {CODE_ATTEMPTS} attempts")


def _refreshed(link: ShareLink, card: dict[str, str]) -> ShareLink:
    changed = {name: value for name, value in card.items() if getattr(link, name) != value}
    if changed:
        ShareLink.objects.filter(pk=link.pk).update(**changed)
        read_cache.links_changed([link.code])
        for name, value in changed.items():
            setattr(link, name, value)
    return link


def _render_poster_on_commit(link_id: int) -> None:
    from apps.core.deferred import send_on_commit

    from ..tasks import render_poster

    send_on_commit(render_poster, link_id)


def visitor_key(*, user=None, ip: str = "", user_agent: str = "") -> str:
    """`u<id>` for a logged-in viewer; else a hash of IP and User-Agent (no personal data stored)."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"u{user.pk}"
    digest = hashlib.sha256(f"{ip}|{user_agent}".encode()).hexdigest()[:32]
    return f"a{digest}"


def share_link_open(
    *,
    link: ShareLink,
    viewer,
    visitor_key: str,
    channel: str = "api",
    now: datetime | None = None,
    seen: bool = False,
) -> bindings.BindingOutcome | None:
    """Someone opened the link: count the visit, and for a logged-in viewer apply the binding policy.

    The sharer opening their own link is neither a visit nor a customer: the counters show what the
    share did with other people. No transaction here: the visit and the binding are independent,
    each atomic on its own, and an anonymous repeat visit must not touch PostgreSQL at all.
    `seen`: the caller already read the viewer's mark for today (visits.seen_key): a repeat, not
    counted again (visit_record would answer the same from the mark).
    """
    now = now or timezone.now()
    logged_in = viewer is not None and getattr(viewer, "is_authenticated", False)
    if logged_in and viewer.pk == link.sharer_id:
        return None
    if not seen:
        visit_record(link=link, visitor_key=visitor_key, user=viewer, channel=channel, now=now)
    if not logged_in:
        return None
    return bindings.binding_touch(customer=viewer, link=link, via=channel, now=now)
