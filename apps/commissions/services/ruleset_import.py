"""Import a rule-set file (docs/rulesets.md) as a draft, through the admin's services, all or nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from ..errors import RuleInvalid
from ..models import Rule, RuleSet
from ..ruleset_files import parse_ruleset_document
from . import rules as rule_services


def _messages(exc: ValidationError, prefix: str) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            f"{prefix}{name}": [m for error in errors for m in error.messages]
            for name, errors in exc.error_dict.items()
        }
    return {prefix.rstrip("."): list(exc.messages)}


@transaction.atomic
def ruleset_import(
    *, document: Any, activate: bool = False, effective_from: datetime | None = None
) -> RuleSet:
    """Create a draft from a parsed file; optionally activate it from `effective_from` (default now).

    Raises RuleSetFileInvalid (the file's shape), RuleInvalid (a rule's fields, Rule.clean),
    RuleSetNotCompliant (every compliance violation of the whole set, checked before anything is
    added, so the operator sees all of them at once), or what activation raises. Atomic: on any
    error nothing is created, not even the draft.
    """
    header, rules = parse_ruleset_document(document)
    try:
        rule_set = rule_services.ruleset_create(name=header["name"], notes=header["notes"])
    except ValidationError as exc:
        raise RuleInvalid(
            gettext("The rule set's name or notes are not valid."), fields=_messages(exc, "")
        ) from exc

    candidates = [Rule(rule_set=rule_set, **fields) for fields in rules]
    shape: dict[str, list[str]] = {}
    for i, rule in enumerate(candidates):
        try:
            rule.full_clean()
        except ValidationError as exc:
            shape.update(_messages(exc, f"rules[{i}]."))
    if shape:
        raise RuleInvalid(
            gettext("Some rules are not filled in correctly: %(problems)s")
            % {"problems": gettext("; ").join(f"{k} {'/'.join(v)}" for k, v in shape.items())},
            fields=shape,
        )
    rule_services.ruleset_check(rule_set=rule_set, rules=candidates)

    for fields in rules:
        rule_services.rule_add(rule_set=rule_set, **fields)
    if activate:
        rule_set = rule_services.ruleset_activate(rule_set=rule_set, effective_from=effective_from)
    return rule_set
