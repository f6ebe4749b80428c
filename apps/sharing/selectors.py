"""Reads of the sharing app: links by code, a KOC's links, current bindings, the URLs of a link."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.kocs.models import Koc

from . import codes
from .models import BindingChange, CustomerBinding, ShareLink


def link_by_code(code: str) -> ShareLink | None:
    """The link of `code`, or None; a string that is not a code costs no query."""
    if not codes.is_code(code):
        return None
    return ShareLink.objects.select_related("sharer").filter(code=code).first()


def links_of(*, user) -> QuerySet[ShareLink]:
    """A sharer's links, newest first (the KOC's list with its counters): one query per page."""
    return ShareLink.objects.filter(sharer=user).order_by("-id")


def approved_koc_of(*, user_id: int | None) -> Koc | None:
    """The approved KOC profile of a user, or None: only approved KOCs bind customers and earn."""
    if not user_id:
        return None
    return Koc.objects.filter(user_id=user_id, status=Koc.Status.APPROVED).first()


def current_binding(*, customer_id: int, now: datetime | None = None) -> CustomerBinding | None:
    """The customer's binding if it holds at `now`: not expired, and its KOC still approved."""
    now = now or timezone.now()
    return (
        CustomerBinding.objects.select_related("koc", "link")
        .filter(customer_id=customer_id, expires_at__gt=now, koc__status=Koc.Status.APPROVED)
        .first()
    )


def order_link_facts(*, order_id: int) -> dict | None:
    """The link an order is attributed through and what was paid, read from the shop's order (for
    a refund whose `order_paid` has not reached this app yet): {"link_id", "paid_fen"} or None."""
    from apps.shop.models import Order

    return (
        Order.objects.filter(pk=order_id, share_link_id__isnull=False)
        .values("paid_fen", link_id=F("share_link_id"))
        .first()
    )


def binding_history(*, customer_id: int) -> QuerySet[BindingChange]:
    return BindingChange.objects.filter(customer_id=customer_id).order_by("at", "id")


def share_path(link: ShareLink) -> str:
    """The card's mini-program path: the target's page with its id and the code in the query."""
    return f"/{link.page}?{query_for(link)}"


def query_for(link: ShareLink) -> str:
    return urlencode({"id": link.target_id, "share_code": link.code})


def _absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def qr_url(link: ShareLink) -> str:
    return _absolute(reverse("share-link-qr", args=[link.code]))


def poster_url(link: ShareLink) -> str:
    return _absolute(reverse("share-link-poster", args=[link.code]))


def landing_url(link: ShareLink) -> str:
    return _absolute(reverse("share-landing", args=[link.code]))
