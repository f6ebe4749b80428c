"""Who gets the customer (绑定规则), and who gets an order: pure decisions, read and tested as tables.

Given the customer's current binding (or none), the KOC whose link the customer just opened, the
policy and the time, `decide` answers what happens:

- no current binding (none, expired, or its KOC no longer approved): the new KOC binds the customer;
- the same KOC again: the binding is renewed (valid `validity_days` from now), at most once a
  day, since a shopper opening the same KOC's links all day is one touch; the protection period
  is not renewed: it runs from when the KOC won the customer;
- another KOC, first touch: the current KOC keeps the customer until the binding expires;
- another KOC, last touch: the new KOC takes the customer, unless the current KOC's protection
  period is still running (no 抢客 then).

`attribute` decides whose an order is, from the buyer's binding and the KOC of the order's share
code (see its docstring): a protected customer stays her KOC's whatever code the order carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

FIRST_TOUCH = "first_touch"
LAST_TOUCH = "last_touch"

BIND = "bind"
RENEW = "renew"
SWITCH = "switch"
KEEP = "keep"


@dataclass(frozen=True)
class Policy:
    mode: str
    validity_days: int
    protection_days: int
    # Outside protection, does an order's explicit share code beat the buyer's binding?
    share_code_wins_unprotected: bool = True


@dataclass(frozen=True)
class Current:
    koc_id: int
    bound_at: datetime
    touched_at: datetime
    expires_at: datetime
    protected_until: datetime
    koc_approved: bool = True

    def holds(self, now: datetime) -> bool:
        return self.koc_approved and self.expires_at > now

    def protected(self, now: datetime, mode: str) -> bool:
        """First touch: protected for as long as the binding holds; last touch: inside the
        protection period only."""
        if not self.holds(now):
            return False
        return mode == FIRST_TOUCH or now < self.protected_until


@dataclass(frozen=True)
class Decision:
    action: str  # bind, renew, switch or keep
    koc_id: int | None  # who holds the customer afterwards (None: nobody)
    why: str = ""
    bound_at: datetime | None = None
    touched_at: datetime | None = None
    expires_at: datetime | None = None
    protected_until: datetime | None = None

    @property
    def changes(self) -> bool:
        return self.action != KEEP


def _won(koc_id: int, policy: Policy, now: datetime, action: str, why: str) -> Decision:
    expires_at = now + timedelta(days=policy.validity_days)
    protected_until = min(now + timedelta(days=policy.protection_days), expires_at)
    return Decision(
        action=action,
        koc_id=koc_id,
        why=why,
        bound_at=now,
        touched_at=now,
        expires_at=expires_at,
        protected_until=protected_until,
    )


def decide(*, current: Current | None, koc_id: int, policy: Policy, now: datetime) -> Decision:
    if current is None or not current.holds(now):
        why = "no binding" if current is None else "previous binding ended"
        return _won(koc_id, policy, now, BIND, why)

    if current.koc_id == koc_id:
        if timezone.localdate(current.touched_at) == timezone.localdate(now):
            return Decision(action=KEEP, koc_id=koc_id, why="already touched today")
        return Decision(
            action=RENEW,
            koc_id=koc_id,
            why="same KOC",
            bound_at=current.bound_at,
            touched_at=now,
            expires_at=max(current.expires_at, now + timedelta(days=policy.validity_days)),
            protected_until=current.protected_until,
        )

    if policy.mode == FIRST_TOUCH:
        return Decision(action=KEEP, koc_id=current.koc_id, why="first touch keeps the customer")
    if now < current.protected_until:
        return Decision(action=KEEP, koc_id=current.koc_id, why="protection period")
    return _won(koc_id, policy, now, SWITCH, "last touch after the protection period")


# --- attribution of an order -----------------------------------------------------------------------

SOURCE_SHARE_CODE = "share_code"
SOURCE_BINDING = "binding"

# Why an order is whose (kept in the order's attribution snapshot as "why").
WHY_NOBODY = "nobody"  # no KOC's code and no binding that holds
WHY_SHARE_CODE = "share_code"  # a KOC's code, and no other KOC's binding that holds
WHY_BINDING = "binding"  # no KOC's code: the buyer's binding
WHY_PROTECTED = "protected_binding"  # another KOC's code, but the buyer is protected as her customer
WHY_CODE_OVER_BINDING = "share_code_over_unprotected_binding"  # unprotected, the policy lets the code win
WHY_BINDING_KEPT = "unprotected_binding_kept"  # unprotected, the policy keeps the binding


@dataclass(frozen=True)
class Attribution:
    source: str | None  # SOURCE_SHARE_CODE, SOURCE_BINDING, or None: the order is nobody's
    koc_id: int | None
    why: str
    protected: bool = False  # the binding (if one holds) protects the customer at this moment
    overridden: str | None = None  # the claim that lost: SOURCE_SHARE_CODE or SOURCE_BINDING


def attribute(
    *, current: Current | None, code_koc_id: int | None, policy: Policy, now: datetime
) -> Attribution:
    """Whose an order is: the buyer's binding (`current`, or None) against the approved KOC whose
    share code the order carries (`code_koc_id`, or None for no code, junk, or a non-KOC's link).

    - no binding that holds: the code's KOC, or nobody;
    - a binding and no code, or the bound KOC's own code: the bound KOC;
    - another KOC's code while the binding protects the customer (first touch: as long as it
      holds; last touch: inside the protection period): the bound KOC, the code overridden;
    - another KOC's code, unprotected: `policy.share_code_wins_unprotected` decides.
    """
    if current is None or not current.holds(now):
        if code_koc_id is None:
            return Attribution(source=None, koc_id=None, why=WHY_NOBODY)
        return Attribution(source=SOURCE_SHARE_CODE, koc_id=code_koc_id, why=WHY_SHARE_CODE)
    protected = current.protected(now, policy.mode)
    if code_koc_id is None:
        return Attribution(source=SOURCE_BINDING, koc_id=current.koc_id, why=WHY_BINDING, protected=protected)
    if code_koc_id == current.koc_id:
        return Attribution(
            source=SOURCE_SHARE_CODE, koc_id=code_koc_id, why=WHY_SHARE_CODE, protected=protected
        )
    if protected:
        return Attribution(
            source=SOURCE_BINDING,
            koc_id=current.koc_id,
            why=WHY_PROTECTED,
            protected=True,
            overridden=SOURCE_SHARE_CODE,
        )
    if policy.share_code_wins_unprotected:
        return Attribution(
            source=SOURCE_SHARE_CODE, koc_id=code_koc_id, why=WHY_CODE_OVER_BINDING, overridden=SOURCE_BINDING
        )
    return Attribution(
        source=SOURCE_BINDING, koc_id=current.koc_id, why=WHY_BINDING_KEPT, overridden=SOURCE_SHARE_CODE
    )
