"""Tiers (等级): evaluating a KOC's level from its figures, manual levels, and the level history."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import User
from apps.core import audit
from apps.core.errors import InvalidInput

from .. import selectors
from ..errors import (
    ReasonRequired,
)
from ..lock_objects import lock_koc
from ..models import (
    Koc,
    Level,
    LevelHistory,
    TierPolicy,
)

Role = Koc.Role
Status = Koc.Status

# --- tiers -----------------------------------------------------------------------------------------


def _meets(level: Level, stats: dict[str, int]) -> bool:
    return (
        stats["own_sales_fen"] >= level.min_own_sales_fen
        and stats["team_sales_fen"] >= level.min_team_sales_fen
        and stats["active_direct_kocs"] >= level.min_active_direct_kocs
    )


def _figures(koc: Koc) -> dict[str, int]:
    """What the level conditions are checked against, recorded with every level change."""
    return {
        "own_sales_fen": selectors.own_sales_fen(koc=koc),
        "team_sales_fen": selectors.team_sales_fen(koc=koc),
        "active_direct_kocs": selectors.active_direct_kocs(koc=koc),
    }


def _held(koc: Koc, now: datetime) -> bool:
    """An operator's level holds through the local date they chose."""
    return koc.level_held_until is not None and timezone.localdate(now) <= koc.level_held_until


def _change_level(
    *,
    koc: Koc,
    to: Level | None,
    reason: str,
    stats: dict,
    now: datetime,
    by: User | None = None,
    automatic: bool = True,
    held_until: date | None = None,
) -> LevelHistory:
    entry = LevelHistory.objects.create(
        koc=koc,
        from_level=koc.level,
        to_level=to,
        reason=reason[:200],
        automatic=automatic,
        changed_by=by,
        stats=stats,
        held_until=held_until,
        at=now,
    )
    koc.level = to
    koc.level_below_since = None
    koc.level_held_until = held_until
    koc.save(update_fields=["level", "level_below_since", "level_held_until"])
    return entry


@transaction.atomic
def koc_evaluate_tier(*, koc_id: int, now: datetime | None = None) -> LevelHistory | None:
    """Put an approved individual on the level its figures (sales to others, net of refunds) give.

    - the highest level whose every condition it meets is above its level: upgraded at once;
    - it no longer meets its level's conditions: `level_below_since` records since when, and the
      admin's `TierPolicy` decides when (if ever) it drops to the highest level still met;
    - an operator's level (`level_held_until`) is left alone through the date they chose.
    Returns the recorded change, or None when the level stayed. Safe to run any number of times.
    """
    now = now or timezone.now()
    koc = lock_koc(koc_id=koc_id)
    if not koc.is_approved or not koc.is_individual or _held(koc, now):
        return None
    stats = _figures(koc)
    best = next((level for level in selectors.levels_above(rank=None) if _meets(level, stats)), None)
    current = koc.level
    if best is not None and (current is None or best.rank > current.rank):
        return _change_level(koc=koc, to=best, reason="达到升级条件 conditions met", stats=stats, now=now)
    if current is None or _meets(current, stats):
        if koc.level_below_since is not None:
            koc.level_below_since = None
            koc.save(update_fields=["level_below_since"])
        return None

    # Below the conditions of its level: the downgrade policy decides.
    if koc.level_below_since is None:
        koc.level_below_since = now
        koc.save(update_fields=["level_below_since"])
    policy = TierPolicy.load()
    if policy.downgrade == TierPolicy.Downgrade.NEVER:
        return None
    if now - koc.level_below_since < timedelta(days=policy.downgrade_after_days):
        return None
    since = timezone.localtime(koc.level_below_since)
    figures = {
        **stats,
        "below_since": since.isoformat(),
        "downgrade_after_days": policy.downgrade_after_days,
    }
    reason = f"自 {since:%Y-%m-%d %H:%M} 起低于等级条件 {policy.downgrade_after_days} 天 below conditions"
    return _change_level(koc=koc, to=best, reason=reason, stats=figures, now=now)


@transaction.atomic
def koc_set_level(
    *,
    koc: Koc,
    level: Level | None,
    by: User | None,
    reason: str,
    hold_until: date | None = None,
    now: datetime | None = None,
) -> Koc:
    """An operator sets any level (up or down) with a reason, recorded in the level history.

    With `hold_until` (today or later) the level holds through that local date: the automatic
    evaluation leaves it alone until then (a penalty is not undone by the next sale, a protected
    head team is not lowered). Without it, the next evaluation decides as usual.
    """
    if not reason or not reason.strip():
        raise ReasonRequired(gettext("Please give the reason for changing the level."))
    now = now or timezone.now()
    if hold_until is not None and hold_until < timezone.localdate(now):
        message = gettext("The hold date cannot be earlier than today.")
        raise InvalidInput(message, code="validation_error", fields={"hold_until": [message]})
    koc = lock_koc(koc_id=koc.pk)
    if level == koc.level and hold_until == koc.level_held_until:
        return koc
    held = f"，保持至 {hold_until:%Y-%m-%d}" if hold_until else ""
    audit.record(
        actor=by,
        obj=koc,
        message=f"等级 {koc.level or '无'} → {level or '无'}{held}，原因: {reason.strip()[:200]}",
    )
    _change_level(
        koc=koc,
        to=level,
        reason=reason.strip(),
        stats=_figures(koc),
        now=now,
        by=by,
        automatic=False,
        held_until=hold_until,
    )
    return koc


def evaluate_tiers_on_commit(koc_id: int) -> None:
    """Re-evaluate `koc_id` and its individual uplines in Celery, once the transaction commits."""
    from apps.core.deferred import send_on_commit

    from ..tasks import evaluate_upline_tiers

    send_on_commit(evaluate_upline_tiers, koc_id)


@transaction.atomic
def upline_tiers_evaluate(*, koc_id: int) -> list[int]:
    """Evaluate `koc_id` and every individual above it now (their team sales include its sales).

    Returns the ids whose level changed (up or down)."""
    koc = Koc.objects.filter(pk=koc_id).first()
    if koc is None:
        return []
    changed = []
    # The parent pointers, not the nested set: exact even while the tree awaits renumbering.
    chain = [koc_id, *selectors.current_ancestor_ids(koc_id=koc_id)]
    individuals = set(
        Koc.objects.filter(pk__in=chain, role__in=Koc.INDIVIDUAL_ROLES, status=Status.APPROVED).values_list(
            "pk", flat=True
        )
    )
    for node_id in (i for i in chain if i in individuals):
        if koc_evaluate_tier(koc_id=node_id) is not None:
            changed.append(node_id)
    return changed


def all_tiers_evaluate(*, now: datetime | None = None) -> int:
    """The nightly pass over every approved individual, each KOC in its own transaction: catches
    lost per-order tasks and carries out the downgrades whose waiting period ended without any new
    sale. Returns how many levels changed."""
    now = now or timezone.now()
    ids = Koc.objects.filter(status=Status.APPROVED, role__in=Koc.INDIVIDUAL_ROLES).values_list(
        "pk", flat=True
    )
    return sum(1 for koc_id in ids.iterator() if koc_evaluate_tier(koc_id=koc_id, now=now) is not None)
