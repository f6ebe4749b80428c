"""Who gets the customer (绑定规则): a pure decision, so the rules can be read and tested as a table.

Given the customer's current binding (or none), the KOC whose link the customer just opened, the
policy and the time, `decide` answers what happens:

- no current binding (none, expired, or its KOC no longer approved): the new KOC binds the customer;
- the same KOC again: the binding is renewed (valid `validity_days` from now), at most once a
  day, since a shopper opening the same KOC's links all day is one touch; the protection period
  is not renewed: it runs from when the KOC won the customer;
- another KOC, first touch: the current KOC keeps the customer until the binding expires;
- another KOC, last touch: the new KOC takes the customer, unless the current KOC's protection
  period is still running (no 抢客 then).
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
