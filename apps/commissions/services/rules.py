"""Rule sets: created and edited as drafts, checked for compliance, activated by effective date.

Activation is the moment a plan starts paying, so it re-runs every compliance check, then fits the
set into the timeline: an open-ended active set that started earlier is closed at the new set's
`effective_from` (it stays `active` for the orders it paid and any it still covers); any other
overlap is refused, so at every instant at most one set is in force.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from .. import compliance
from ..errors import RuleSetNotCompliant, RuleSetNotEditable, RuleSetOverlap
from ..models import Rule, RuleSet


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
def ruleset_activate(*, rule_set: RuleSet, effective_from: datetime | None = None) -> RuleSet:
    rule_set = RuleSet.objects.select_for_update().get(pk=rule_set.pk)
    if rule_set.status != RuleSet.Status.DRAFT:
        raise RuleSetNotEditable("只有草稿可以启用")
    start = effective_from or rule_set.effective_from or timezone.now()
    end = rule_set.effective_to
    if end is not None and end <= start:
        raise RuleSetOverlap("失效时间必须晚于生效时间", code="invalid_window")
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
            raise RuleSetOverlap(f"与「{other.name}」v{other.version} 的生效时间重叠")
    rule_set.status = RuleSet.Status.ACTIVE
    rule_set.effective_from = start
    rule_set.activated_at = timezone.now()
    rule_set.save(update_fields=["status", "effective_from", "activated_at"])
    return rule_set


@transaction.atomic
def ruleset_retire(*, rule_set: RuleSet, at: datetime | None = None) -> RuleSet:
    """Stop a set paying new orders from `at` (default now); it still explains what it paid."""
    rule_set = RuleSet.objects.select_for_update().get(pk=rule_set.pk)
    if rule_set.status != RuleSet.Status.ACTIVE:
        raise RuleSetNotEditable("只有生效中的规则集可以停用")
    at = at or timezone.now()
    if rule_set.effective_to is None or rule_set.effective_to > at:
        rule_set.effective_to = max(at, rule_set.effective_from)
    rule_set.status = RuleSet.Status.RETIRED
    rule_set.save(update_fields=["status", "effective_to"])
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
