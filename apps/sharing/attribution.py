"""The shop's attribution resolver: which KOC an order is attributed to, decided at order creation.

Registered with `apps.shop.attribution.set_attribution_resolver` in SharingConfig.ready(). The shop
stores the answer on the order (attributed_koc_id, share_link_id, attribution) and the commission
engine pays from that snapshot, so it holds everything needed to explain the decision:

    {"koc_id", "share_link_id", "source": "share_code" | "binding", "why", "self_purchase",
     "share_code", "binding_id",
     "binding": None | {"koc_id", "expires_at", "protected_until", "protected"},
     "overridden": None
        | {"source": "share_code", "koc_id", "share_link_id", "share_code"}   (the code that lost)
        | {"source": "binding", "koc_id", "binding_id", "share_link_id"},     (the binding that lost)
     "policy": {"mode", "validity_days", "protection_days", "share_code_wins_unprotected"}}

The decision is `binding_rules.attribute` (the binding policy, as a table): a buyer protected as KOC
A's customer stays A's whatever share code the order carries; without protection the policy's
`share_code_wins_unprotected` decides between the code and the binding; without a binding the
code's KOC gets it. Only a link whose sharer is an approved KOC is a code at all (junk, unknown
codes and shoppers' links count as none). `share_code` and `share_link_id` name the link credited
(the code's, or the one that bound the buyer). `self_purchase` is true when the KOC is the buyer: a
KOC buying through her own link earns no commission and counts towards no tier (her benefit is the
tier price). Reads only; an order never fails for a code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from . import binding_rules, selectors
from .models import CustomerBinding, ShareLink
from .services.bindings import current_of, policy_of

SOURCE_SHARE_CODE = binding_rules.SOURCE_SHARE_CODE
SOURCE_BINDING = binding_rules.SOURCE_BINDING


def _iso(value: datetime) -> str:
    return timezone.localtime(value).isoformat()


def resolve_attribution(
    *, buyer, share_code: str | None, now: datetime | None = None
) -> dict[str, Any] | None:
    now = now or timezone.now()
    facts = selectors.attribution_facts(customer_id=buyer.pk, share_code=share_code, now=now)
    policy, link, code_koc, binding = facts.policy, facts.link, facts.code_koc, facts.binding
    decided = binding_rules.attribute(
        current=current_of(binding),
        code_koc_id=code_koc.pk if code_koc is not None else None,
        policy=policy_of(policy),
        now=now,
    )
    if decided.source is None:
        return None

    if decided.source == SOURCE_SHARE_CODE:
        koc, credited = code_koc, link
    else:
        koc, credited = binding.koc, binding.link
    return {
        "koc_id": koc.pk,
        "share_link_id": credited.pk if credited is not None else None,
        "source": decided.source,
        "why": decided.why,
        "self_purchase": koc.user_id == buyer.pk,
        "share_code": credited.code if credited is not None else None,
        "binding_id": binding.pk if binding is not None else None,
        "binding": _binding(binding, decided) if binding is not None else None,
        "overridden": _overridden(
            decided, link=link, code_koc_id=code_koc.pk if code_koc else None, binding=binding
        ),
        "policy": policy.snapshot(),
    }


def _binding(binding: CustomerBinding, decided: binding_rules.Attribution) -> dict[str, Any]:
    return {
        "koc_id": binding.koc_id,
        "expires_at": _iso(binding.expires_at),
        "protected_until": _iso(binding.protected_until),
        "protected": decided.protected,
    }


def _overridden(
    decided: binding_rules.Attribution,
    *,
    link: ShareLink | None,
    code_koc_id: int | None,
    binding: CustomerBinding | None,
) -> dict[str, Any] | None:
    if decided.overridden == SOURCE_SHARE_CODE:
        return {
            "source": SOURCE_SHARE_CODE,
            "koc_id": code_koc_id,
            "share_link_id": link.pk,
            "share_code": link.code,
        }
    if decided.overridden == SOURCE_BINDING:
        return {
            "source": SOURCE_BINDING,
            "koc_id": binding.koc_id,
            "binding_id": binding.pk,
            "share_link_id": binding.link_id,
        }
    return None
