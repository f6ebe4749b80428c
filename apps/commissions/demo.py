"""The demo commission plan of docs/api.md: direct sale 10% to the attributed KOC, 3% to its parent."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from .models import PayoutSettings, Rule, RuleSet
from .services import rules as rule_services

ORDER = 50  # after accounts, the shop and the KOC team
DEMO_NAME = "基础分佣方案"


def seed(stdout) -> None:
    PayoutSettings.load()
    if RuleSet.objects.filter(name=DEMO_NAME).exists():
        return
    rule_set = rule_services.ruleset_create(
        name=DEMO_NAME,
        notes="直推 10%，上级 3%；最多 COMMISSION_MAX_LEVELS 级个人佣金。",
        effective_from=timezone.make_aware(datetime(2020, 1, 1)),
    )
    rule_services.rule_add(
        rule_set=rule_set, name="直推奖励", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("10")
    )
    rule_services.rule_add(
        rule_set=rule_set, name="上级奖励", kind=Rule.Kind.SALES, level=1, rate_percent=Decimal("3")
    )
    # The demo's history (and the scale demo's orders) go back to 2020: the plan was activated then.
    rule_services.ruleset_activate(rule_set=rule_set, now=rule_set.effective_from)
    stdout.write(f"commission plan {rule_set.name} v{rule_set.version} active")
