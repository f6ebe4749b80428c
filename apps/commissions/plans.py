"""Rule sets as the engine sees them: which set is in force at an instant, and its frozen spec."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from .engine import PlanSpec, RuleSpec
from .models import Rule, RuleSet

IN_FORCE_STATUSES = (RuleSet.Status.ACTIVE, RuleSet.Status.RETIRED)


def rule_spec(rule: Rule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk or 0,
        kind=rule.kind,
        name=rule.name,
        level=rule.level,
        basis=rule.basis,
        rate_percent=Decimal(rule.rate_percent) if rule.rate_percent is not None else None,
        amount_fen=rule.amount_fen,
        scope=rule.scope,
        scope_id=rule.scope_id,
        product_ids=frozenset(rule.product_ids or ()),
        koc_ids=frozenset(rule.koc_ids or ()),
        valid_from=rule.valid_from,
        valid_to=rule.valid_to,
        beneficiary_role=rule.beneficiary_role or "",
    )


def plan_spec(rule_set: RuleSet, rules: list[Rule] | None = None) -> PlanSpec:
    if rules is None:
        rules = list(rule_set.rules.all())
    return PlanSpec(
        rule_set_id=rule_set.pk or 0,
        version=rule_set.version or 0,
        name=rule_set.name,
        rules=tuple(rule_spec(r) for r in rules if r.kind != Rule.Kind.PERIODIC),
    )


def rule_set_in_force(at: datetime) -> RuleSet | None:
    """The activated set whose window holds `at` (windows of activated sets never overlap).

    Retired sets count: an order paid while a since-retired set was in force is paid by it.
    """
    return (
        RuleSet.objects.filter(status__in=IN_FORCE_STATUSES, effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .order_by("-effective_from")
        .first()
    )


def plan_in_force(at: datetime) -> tuple[RuleSet | None, PlanSpec | None]:
    """The set in force at `at` and its spec, in one query (its rules, each with its set).

    A set in force with no rules pays nothing either way, so it is answered as no set at all.
    """
    rules = list(
        Rule.objects.filter(rule_set__status__in=IN_FORCE_STATUSES, rule_set__effective_from__lte=at)
        .filter(Q(rule_set__effective_to__isnull=True) | Q(rule_set__effective_to__gt=at))
        .select_related("rule_set")
        .order_by("-rule_set__effective_from", "pk")
    )
    if not rules:
        return None, None
    rule_set = rules[0].rule_set
    return rule_set, plan_spec(rule_set, [r for r in rules if r.rule_set_id == rule_set.pk])


class PlanCache:
    """Specs of rule sets by id, loaded once per batch (settlement, dry run, benchmark)."""

    def __init__(self) -> None:
        self._specs: dict[int, PlanSpec] = {}
        self._sets: list[RuleSet] | None = None

    def spec(self, rule_set: RuleSet) -> PlanSpec:
        if rule_set.pk not in self._specs:
            self._specs[rule_set.pk] = plan_spec(rule_set)
        return self._specs[rule_set.pk]

    def in_force(self, at: datetime) -> RuleSet | None:
        if self._sets is None:
            self._sets = list(
                RuleSet.objects.filter(status__in=IN_FORCE_STATUSES).order_by("-effective_from")
            )
        for rule_set in self._sets:
            if (
                rule_set.effective_from
                and rule_set.effective_from <= at
                and (rule_set.effective_to is None or at < rule_set.effective_to)
            ):
                return rule_set
        return None


# --- the process cache of in-force rule sets ---------------------------------------------------------
#
# Accrual reads which set is in force at an order's paid date from the database every time (in
# sources.accrual_reads, with the rest of its inputs); what it caches is that set's rules. A set can
# change its rules only while it is a draft (services.rules, the admin), and only activated or
# retired sets are ever in force, so the spec of (id, version) is the same for as long as the set
# lives: no process can serve another one a stale rule. Keyed by the version too, and emptied on
# every save or delete of a rule set or a rule in this process (apps.py): belt and braces for a test
# database that reuses ids after a rollback, and for a hand-edited row in a shell; the key holds
# the set's creation time as well.

_SPECS: dict[tuple[int, int, str], tuple[RuleSet, PlanSpec]] = {}
_SPECS_MAX = 64


def in_force_spec(rule_set_id: int, version: int, stamp: str = "") -> tuple[RuleSet, PlanSpec]:
    """The rule set `rule_set_id` (at `version`, created at `stamp`) and its spec: one query the
    first time, then none. The creation stamp tells apart two sets that got the same id and version
    (a test database after a rollback), which the signals below may not see (a bulk insert)."""
    key = (rule_set_id, version, stamp)
    cached = _SPECS.get(key)
    if cached is None:
        rules = list(Rule.objects.filter(rule_set_id=rule_set_id).select_related("rule_set").order_by("pk"))
        rule_set = rules[0].rule_set if rules else RuleSet.objects.get(pk=rule_set_id)
        if len(_SPECS) >= _SPECS_MAX:
            _SPECS.clear()
        cached = _SPECS[key] = (rule_set, plan_spec(rule_set, rules))
    return cached


def forget_specs(**_kwargs) -> None:
    """Empty the process cache (a signal receiver: any rule set or rule saved or deleted)."""
    _SPECS.clear()
