"""Print a rule set as a file of docs/rulesets.md: `python manage.py ruleset_export ID > plan.json`."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.commissions.models import RuleSet
from apps.commissions.ruleset_files import ruleset_document


class Command(BaseCommand):
    help = "Print rule set ID (any status) as JSON in the rule-set file format (docs/rulesets.md)."

    def add_arguments(self, parser):
        parser.add_argument("id", type=int, help="RuleSet id")

    def handle(self, *args, id: int, **options):
        rule_set = RuleSet.objects.filter(pk=id).first()
        if rule_set is None:
            raise CommandError(f"not_found: no rule set {id}")
        self.stdout.write(json.dumps(ruleset_document(rule_set), ensure_ascii=False, indent=2))
