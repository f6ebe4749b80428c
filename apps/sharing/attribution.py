"""The shop's attribution resolver: which KOC an order is attributed to, decided at order creation.

Registered with `apps.shop.attribution.set_attribution_resolver` in SharingConfig.ready(). The shop
stores the answer on the order (attributed_koc_id, share_link_id, attribution) and the commission
engine pays from that snapshot, so it holds everything the engine needs to explain itself:

    {"koc_id", "share_link_id", "source": "share_code" | "binding", "self_purchase",
     "share_code", "binding_id", "policy": {"mode", "validity_days", "protection_days"}}

1. A `share_code` of a link whose sharer is an approved KOC: that KOC (source "share_code"), even
   if the buyer is bound to someone else: the order came through this link.
2. Otherwise (no code, a junk or unknown code, a non-KOC's link): the buyer's current binding.
3. Otherwise None: the order is nobody's.
`self_purchase` is true when the KOC is the buyer: a KOC buying through their own link earns no
commission (their benefit is the tier price). Reads only; an order never fails for a code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from . import selectors
from .models import BindingPolicy

SOURCE_SHARE_CODE = "share_code"
SOURCE_BINDING = "binding"


def resolve_attribution(
    *, buyer, share_code: str | None, now: datetime | None = None
) -> dict[str, Any] | None:
    now = now or timezone.now()
    policy = BindingPolicy.load().snapshot()

    link = selectors.link_by_code(share_code) if share_code else None
    koc = selectors.approved_koc_of(user_id=link.sharer_id) if link is not None else None
    if koc is not None:
        return {
            "koc_id": koc.pk,
            "share_link_id": link.pk,
            "source": SOURCE_SHARE_CODE,
            "self_purchase": koc.user_id == buyer.pk,
            "share_code": link.code,
            "binding_id": None,
            "policy": policy,
        }

    binding = selectors.current_binding(customer_id=buyer.pk, now=now)
    if binding is None:
        return None
    return {
        "koc_id": binding.koc_id,
        "share_link_id": binding.link_id,
        "source": SOURCE_BINDING,
        "self_purchase": binding.koc.user_id == buyer.pk,
        "share_code": binding.link.code if binding.link_id else None,
        "binding_id": binding.pk,
        "binding_expires_at": timezone.localtime(binding.expires_at).isoformat(),
        "policy": policy,
    }
