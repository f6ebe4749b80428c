"""Binding customers to KOCs (绑定关系) under the admin's policy; every change recorded with its reason.

The decision itself is `binding_rules.decide` (pure); this module locks the customer's binding row,
asks it, and writes the outcome. A shopper is bound only by a link of an approved KOC, never by
their own link, and never by a non-KOC's link (a shopper sharing a group binds nobody).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import audit
from apps.kocs.models import Koc

from .. import binding_rules, selectors
from ..lock_objects import binding_lock
from ..models import BindingChange, BindingPolicy, CustomerBinding, ShareLink

REASONS = {
    binding_rules.BIND: BindingChange.Reason.BOUND,
    binding_rules.RENEW: BindingChange.Reason.RENEWED,
    binding_rules.SWITCH: BindingChange.Reason.SWITCHED,
}


@dataclass(frozen=True)
class BindingOutcome:
    decision: binding_rules.Decision
    binding: CustomerBinding | None
    change: BindingChange | None


def policy_of(policy: BindingPolicy) -> binding_rules.Policy:
    return binding_rules.Policy(
        mode=policy.mode,
        validity_days=policy.validity_days,
        protection_days=policy.protection_days,
        share_code_wins_unprotected=policy.share_code_wins_unprotected,
    )


def current_of(binding: CustomerBinding | None) -> binding_rules.Current | None:
    if binding is None:
        return None
    return binding_rules.Current(
        koc_id=binding.koc_id,
        bound_at=binding.bound_at,
        touched_at=binding.touched_at,
        expires_at=binding.expires_at,
        protected_until=binding.protected_until,
        koc_approved=binding.koc.status == Koc.Status.APPROVED,
    )


def binding_touch(
    *, customer, link: ShareLink, via: str, now: datetime | None = None
) -> BindingOutcome | None:
    """The customer opened `link`: bind, renew, switch or keep, as the policy says.

    None when the link cannot bind anyone: its sharer is not an approved KOC, or is the customer.
    A touch that changes nothing (the same KOC's link again the same day, a protected customer)
    is decided from a plain read, without locking or writing anything: a repeat visit only reads.
    """
    now = now or timezone.now()
    if customer is None or not customer.pk or customer.pk == link.sharer_id:
        return None
    koc = selectors.approved_koc_of(user_id=link.sharer_id)
    if koc is None or koc.user_id == customer.pk:
        return None
    policy = BindingPolicy.load()
    current = CustomerBinding.objects.select_related("koc").filter(customer_id=customer.pk).first()
    decision = binding_rules.decide(
        current=current_of(current), koc_id=koc.pk, policy=policy_of(policy), now=now
    )
    if not decision.changes:
        # As if decided at the moment of that read: a concurrent change is simply later.
        return BindingOutcome(decision=decision, binding=current, change=None)
    return _binding_change(customer=customer, link=link, koc=koc, policy=policy, via=via, now=now)


@transaction.atomic
def _binding_change(*, customer, link: ShareLink, koc: Koc, policy: BindingPolicy, via: str, now: datetime):
    """The touch changes the binding: decided again under the customer's binding lock, then written."""
    for _attempt in range(2):
        binding = binding_lock(customer_id=customer.pk)
        decision = binding_rules.decide(
            current=current_of(binding), koc_id=koc.pk, policy=policy_of(policy), now=now
        )
        if not decision.changes:
            return BindingOutcome(decision=decision, binding=binding, change=None)
        from_koc_id = binding.koc_id if binding is not None else None
        fields = {
            "koc_id": decision.koc_id,
            "bound_at": decision.bound_at,
            "touched_at": decision.touched_at,
            "expires_at": decision.expires_at,
            "protected_until": decision.protected_until,
        }
        if decision.action != binding_rules.RENEW:
            fields["link_id"] = link.pk
        if binding is None:
            try:
                with transaction.atomic():
                    binding = CustomerBinding.objects.create(customer_id=customer.pk, **fields)
            except IntegrityError:
                continue  # a concurrent first touch created the row: lock it and decide again
        else:
            for name, value in fields.items():
                setattr(binding, name, value)
            binding.save(update_fields=[*fields.keys(), "updated_at"])
        change = BindingChange.objects.create(
            customer_id=customer.pk,
            binding=binding,
            from_koc_id=from_koc_id,
            to_koc_id=decision.koc_id,
            link=link,
            reason=REASONS[decision.action],
            via=via[:16],
            policy=policy.snapshot(),
            expires_at=decision.expires_at,
            protected_until=decision.protected_until,
            note=decision.why[:200],
            at=now,
        )
        return BindingOutcome(decision=decision, binding=binding, change=change)
    raise RuntimeError("the customer's binding changed twice while being decided")


@transaction.atomic
def binding_touch_by_code(
    *, customer_id: int, share_code: str, via: str, now: datetime | None = None
) -> BindingOutcome | None:
    """A shopper arrived with a share code (a login): junk or unknown codes change nothing."""
    from apps.accounts.models import User

    link = selectors.link_by_code(share_code)
    customer = User.objects.filter(pk=customer_id).first()
    if link is None or customer is None:
        return None
    return binding_touch(customer=customer, link=link, via=via, now=now)


@transaction.atomic
def binding_release(
    *, binding: CustomerBinding, by, note: str = "", now: datetime | None = None
) -> CustomerBinding:
    """An operator ends a binding now (the customer is free for the next KOC's link)."""
    now = now or timezone.now()
    binding = binding_lock(customer_id=binding.customer_id)
    if binding is None or binding.expires_at <= now:
        return binding
    from_koc_id = binding.koc_id
    binding.expires_at = max(now, binding.bound_at)
    binding.protected_until = min(binding.protected_until, binding.expires_at)
    binding.save(update_fields=["expires_at", "protected_until", "updated_at"])
    BindingChange.objects.create(
        customer_id=binding.customer_id,
        binding=binding,
        from_koc_id=from_koc_id,
        to_koc_id=None,
        reason=BindingChange.Reason.RELEASED,
        via="admin",
        policy=BindingPolicy.load().snapshot(),
        expires_at=binding.expires_at,
        protected_until=binding.protected_until,
        note=note[:200],
        changed_by=by if getattr(by, "pk", None) else None,
        at=now,
    )
    audit.record(actor=by, obj=binding, message=f"解除绑定：{note}" if note else "解除绑定")
    return binding
