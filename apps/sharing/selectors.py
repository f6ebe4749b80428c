"""Reads of the sharing app: links by code, a KOC's links, current bindings, the URLs of a link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.core import rawsql
from apps.kocs.models import Koc

from . import codes
from .models import BindingChange, BindingPolicy, CustomerBinding, ShareLink


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


@dataclass(frozen=True)
class AttributionFacts:
    """What an order's attribution is decided from, read at one moment."""

    policy: BindingPolicy
    link: ShareLink | None  # the share code's link, if the code names one
    code_koc: Koc | None  # the link sharer's profile, if an approved KOC
    binding: CustomerBinding | None  # the customer's binding if it holds (koc and link attached)


# The policy, the binding with its KOC and link, the code's link and its sharer's KOC profile.
# Of a KOC and a link only what attribution decides and records by (the rest stays deferred).
_KOC = (Koc, ("user", "status"))
_LINK = (ShareLink, ("code", "sharer"))
_ATTRIBUTION_MODELS = (BindingPolicy, CustomerBinding, _KOC, _LINK, _LINK, _KOC)
_ATTRIBUTION_ALIASES = ("p", "b", "bk", "bl", "cl", "ck")


def _attribution_sql() -> str:
    # Every id and value is a parameter; table names come from the models.
    tables = {model: model._meta.db_table for model in (BindingPolicy, CustomerBinding, Koc, ShareLink)}
    models = ", ".join(
        rawsql.columns(alias, part)
        for alias, part in zip(_ATTRIBUTION_ALIASES, _ATTRIBUTION_MODELS, strict=True)
    )
    return (
        f"SELECT {models} FROM (SELECT 1 AS one) x "  # noqa: S608
        f"LEFT JOIN {tables[BindingPolicy]} p ON p.id = 1 "
        f"LEFT JOIN ({tables[CustomerBinding]} b "
        f"JOIN {tables[Koc]} bk ON bk.id = b.koc_id AND bk.status = %s) "
        "ON b.customer_id = %s AND b.expires_at > %s "
        f"LEFT JOIN {tables[ShareLink]} bl ON bl.id = b.link_id "
        f"LEFT JOIN {tables[ShareLink]} cl ON cl.code = %s "
        f"LEFT JOIN {tables[Koc]} ck ON ck.user_id = cl.sharer_id AND ck.status = %s"
    )


_ATTRIBUTION_SQL = _attribution_sql()


def attribution_facts(*, customer_id: int, share_code: str | None, now: datetime) -> AttributionFacts:
    """The binding policy, the customer's binding if it holds at `now` (not expired, its KOC still
    approved), and the link of `share_code` with its sharer's approved KOC profile: one query
    (the hottest read of an order). A string that is not a code names no link."""
    code = share_code if share_code and codes.is_code(share_code) else None
    approved = Koc.Status.APPROVED.value
    found, _rest = rawsql.read_joined(
        _ATTRIBUTION_SQL,
        [approved, customer_id, connection.ops.adapt_datetimefield_value(now), code, approved],
        _ATTRIBUTION_MODELS,
    )
    policy, binding, binding_koc, binding_link, link, code_koc = found
    if binding is not None:
        rawsql.link(binding, "koc", binding_koc)
        rawsql.link(binding, "link", binding_link)
    return AttributionFacts(
        policy=policy if policy is not None else BindingPolicy.load(),
        link=link,
        code_koc=code_koc,
        binding=binding,
    )


def current_binding(*, customer_id: int, now: datetime | None = None) -> CustomerBinding | None:
    """The customer's binding if it holds at `now`: not expired, and its KOC still approved."""
    return attribution_facts(customer_id=customer_id, share_code=None, now=now or timezone.now()).binding


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
