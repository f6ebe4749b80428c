"""Rule sets: created and edited as drafts, checked for compliance, activated by effective date.

Activation is the moment a plan starts paying, so it re-runs every compliance check, then fits the
set into the timeline: an open-ended active set that started earlier is closed at the new set's
`effective_from` (it stays `active` for the orders it paid and any it still covers); any other
overlap is refused, so at every instant at most one set is in force.

Activation never reaches into the past (ACTIVATION_SKEW of clock difference at most): an order is paid
by the set in force at its payment time, and a start in the past would make two orders paid at the
same moment be paid by different sets depending on when their events were processed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext

from .. import compliance
from ..errors import RuleSetActivationInPast, RuleSetNotCompliant, RuleSetNotEditable, RuleSetOverlap
from ..models import Rule, RuleSet

ACTIVATION_SKEW = timedelta(minutes=1)


def next_version() -> int:
    return (RuleSet.objects.aggregate(m=Max("version"))["m"] or 0) + 1  # unique: a racing twin fails


@transaction.atomic
def ruleset_create(
    *,
    name: str,
    notes: str = "",
    effective_from: datetime | None = None,
    effective_to: datetime | None = None,
) -> RuleSet:
    rule_set = RuleSet(name=name, notes=notes, effective_from=effective_from, effective_to=effective_to)
    rule_set.version = next_version()
    rule_set.full_clean()
    rule_set.save()
    return rule_set


def ruleset_check(*, rule_set: RuleSet, rules: list[Rule] | None = None) -> None:
    """Raise RuleSetNotCompliant with every violation of the set (saved rules, or `rules`)."""
    violations = compliance.check(list(rule_set.rules.all()) if rules is None else rules)
    if violations:
        raise RuleSetNotCompliant(violations)


@transaction.atomic
def rule_add(*, rule_set: RuleSet, **fields) -> Rule:
    """Add a rule to a draft; the set with it must stay compliant."""
    if not rule_set.is_editable:
        raise RuleSetNotEditable()
    rule = Rule(rule_set=rule_set, **fields)
    rule.full_clean()
    ruleset_check(rule_set=rule_set, rules=[*rule_set.rules.all(), rule])
    rule.save()
    return rule


@transaction.atomic
def ruleset_activate(
    *, rule_set: RuleSet, effective_from: datetime | None = None, now: datetime | None = None
) -> RuleSet:
    """Activate a draft from `effective_from` (default: its own, else now), never in the past.

    `now` is the clock (the demo seed sets it back to build history as it would have happened).
    """
    now = now or timezone.now()
    rule_set = RuleSet.objects.select_for_update().get(pk=rule_set.pk)
    if rule_set.status != RuleSet.Status.DRAFT:
        raise RuleSetNotEditable(gettext("Only a draft can be activated."))
    start = effective_from or rule_set.effective_from or now
    if start < now - ACTIVATION_SKEW:
        raise RuleSetActivationInPast(
            gettext(
                "The effective time %(start)s is earlier than now: paid orders are settled by the rule "
                "set in force when they were paid, so a new rule set can only start now or later."
            )
            % {"start": f"{timezone.localtime(start):%Y-%m-%d %H:%M}"}
        )
    end = rule_set.effective_to
    if end is not None and end <= start:
        raise RuleSetOverlap(
            gettext("The end time must be later than the effective time."), code="invalid_window"
        )
    ruleset_check(rule_set=rule_set)

    others = RuleSet.objects.select_for_update().filter(status=RuleSet.Status.ACTIVE).exclude(pk=rule_set.pk)
    overlapping = others.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=start))
    if end is not None:
        overlapping = overlapping.filter(effective_from__lt=end)
    for other in overlapping:
        if other.effective_to is None and other.effective_from < start:
            other.effective_to = start  # the new version takes over from `start`
            other.save(update_fields=["effective_to"])
        else:
            raise RuleSetOverlap(
                gettext("The effective period overlaps “%(name)s” v%(version)s.")
                % {"name": other.name, "version": other.version}
            )
    rule_set.status = RuleSet.Status.ACTIVE
    rule_set.effective_from = start
    rule_set.activated_at = now
    rule_set.save(update_fields=["status", "effective_from", "activated_at"])
    return rule_set


@transaction.atomic
def ruleset_retire(*, rule_set: RuleSet, at: datetime | None = None) -> RuleSet:
    """Stop a set paying new orders from `at` (default now), whatever its state.

    - in force (started): it ends at `at` and still explains what it paid;
    - never started (a draft, or active with a start still ahead): it is retired without ever having
      been in force (its window is cleared, the plan recorded in its notes), and the set its
      activation had closed at that start takes over again, so no gap opens in the timeline;
    - already retired: nothing changes.
    """
    rule_set = RuleSet.objects.select_for_update().get(pk=rule_set.pk)
    if rule_set.status == RuleSet.Status.RETIRED:
        return rule_set
    at = at or timezone.now()
    started = (
        rule_set.status == RuleSet.Status.ACTIVE
        and rule_set.effective_from is not None
        and rule_set.effective_from <= at
    )
    if started:
        if rule_set.effective_to is None or rule_set.effective_to > at:
            rule_set.effective_to = max(at, rule_set.effective_from + timedelta(microseconds=1))
        rule_set.status = RuleSet.Status.RETIRED
        rule_set.save(update_fields=["status", "effective_to"])
        return rule_set
    planned_from, planned_to = rule_set.effective_from, rule_set.effective_to
    if rule_set.status == RuleSet.Status.ACTIVE and planned_from is not None:
        predecessor = (
            RuleSet.objects.select_for_update()
            .filter(status=RuleSet.Status.ACTIVE, effective_to=planned_from)
            .exclude(pk=rule_set.pk)
            .first()
        )
        if predecessor is not None:
            predecessor.effective_to = planned_to
            predecessor.save(update_fields=["effective_to"])
    if planned_from is not None:
        window = f"{timezone.localtime(planned_from):%Y-%m-%d %H:%M}"
        if planned_to is not None:
            window += f" 至 {timezone.localtime(planned_to):%Y-%m-%d %H:%M}"
        rule_set.notes = f"{rule_set.notes}\n计划 {window} 生效，生效前已停用。".strip()[:2000]
    rule_set.status = RuleSet.Status.RETIRED
    rule_set.effective_from = None
    rule_set.effective_to = None
    rule_set.save(update_fields=["status", "effective_from", "effective_to", "notes"])
    return rule_set


@transaction.atomic
def ruleset_copy(*, rule_set: RuleSet, name: str | None = None) -> RuleSet:
    """A new draft version with the same rules (how an active plan is changed)."""
    copy = ruleset_create(
        name=name or rule_set.name, notes=f"复制自 v{rule_set.version}。{rule_set.notes}"[:2000]
    )
    for rule in rule_set.rules.all().order_by("pk"):
        rule.pk = None
        rule.rule_set = copy
        rule.save()
    return copy
