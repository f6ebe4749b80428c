"""Create a draft rule set from a file of docs/rulesets.md, through the admin's services.

    python manage.py ruleset_import plan.json                       # a draft, to review and activate
    python manage.py ruleset_import plan.json --activate            # active from now
    python manage.py ruleset_import plan.json --activate --from 2026-04-01T00:00:00+08:00

Any problem (the file's shape, a rule's fields, a compliance violation, activation) prints its code
and message, exits with status 1, and creates nothing.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from apps.commissions.ruleset_files import parse_instant
from apps.commissions.services.ruleset_import import ruleset_import
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Import a rule-set file (docs/rulesets.md) as a draft; --activate [--from ISO] activates it."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the JSON file, or - for standard input")
        parser.add_argument("--activate", action="store_true", help="activate the draft once created")
        parser.add_argument(
            "--from",
            dest="effective_from",
            metavar="ISO",
            help="with --activate: start of the set's effect (ISO 8601; never in the past; default now)",
        )

    def handle(self, *args, file: str, activate: bool, effective_from: str | None, **options):
        start = None
        if effective_from is not None:
            if not activate:
                raise CommandError("invalid_input: --from needs --activate")
            start = parse_instant(effective_from)
            if start is None:
                raise CommandError(f"invalid_input: --from is not an ISO 8601 date-time: {effective_from!r}")
        try:
            text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"invalid_input: cannot read {file}: {exc.strerror}") from exc
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"invalid_ruleset_file: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
            ) from exc
        try:
            rule_set = ruleset_import(document=document, activate=activate, effective_from=start)
        except ApplicationError as exc:
            if not exc.fields:
                raise CommandError(f"{exc.code}: {exc.message} (nothing was created)") from exc
            # One line per problem: a compliance violation's code (too_many_levels, ...) or the
            # path of a field of the file (rules[2].rate_percent).
            for key, messages in exc.fields.items():
                for message in messages:
                    self.stderr.write(f"{key}: {message}")
            raise CommandError(f"{exc.code}: nothing was created") from exc
        state = (
            f"active from {rule_set.effective_from.isoformat()}"
            if rule_set.status == rule_set.Status.ACTIVE
            else "draft"
        )
        self.stdout.write(
            f"imported {rule_set.name} as v{rule_set.version} (id {rule_set.pk}), "
            f"{rule_set.rules.count()} rules, {state}"
        )
