"""Rule sets as files (docs/rulesets.md): the JSON format, its strict reader and its writer.

A rule set travels between environments (staging to production, a plan reviewed as a file) as
`{"format": 1, "name", "notes", "rules": [...]}`. Each rule carries the fields of `Rule`; a field
that does not apply to the rule's kind is absent (export) or absent / null (import). The reader is
strict on purpose - a typo in a key or a rate written as a float would otherwise become a plan
paying something else - and reports every problem at once, by path (`rules[2].rate_percent`).

Reading a file creates nothing: `services.ruleset_files.ruleset_import` then builds the draft
through the same services (and compliance checks) as the admin.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from .errors import RuleSetFileInvalid
from .models import Rule, RuleSet

FORMAT = 1
RULE_FIELDS = (
    "name",
    "kind",
    "level",
    "basis",
    "rate_percent",
    "amount_fen",
    "scope",
    "scope_id",
    "product_ids",
    "koc_ids",
    "valid_from",
    "valid_to",
    "beneficiary_role",
    "period",
    "measure",
    "metric",
    "target",
)
# Which fields mean something for each kind: the model's table (Rule.clean refuses the others), and
# for `signup` - a kind that exists only to be refused by compliance - its amount. `rate_percent` /
# `amount_fen` further depend on `basis`, `scope_id` on `scope` (see `applies`).
KIND_FIELDS: dict[str, set[str]] = {**Rule.KIND_FIELDS, Rule.Kind.SIGNUP: {"amount_fen"}}
_RATE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,2})?$")


def applies(rule: Rule, name: str) -> bool:
    """Does field `name` mean something for `rule` (its kind, basis and scope)?"""
    if name in ("name", "kind"):
        return True
    if name not in KIND_FIELDS.get(rule.kind, ()):
        return False
    if rule.kind in (Rule.Kind.SALES, Rule.Kind.TARGETED):
        if name == "rate_percent":
            return rule.basis == Rule.Basis.PERCENT
        if name == "amount_fen":
            return rule.basis == Rule.Basis.PER_UNIT
    if name == "scope_id":
        return rule.scope != Rule.Scope.ALL
    return True


def _default(name: str) -> Any:
    return Rule.FIELD_DEFAULTS[name]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


# --- writing ----------------------------------------------------------------------------------------


def _export_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01'))}"
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, list):
        return list(value)
    return value


def rule_document(rule: Rule) -> dict[str, Any]:
    """One rule as the format writes it: the fields of its kind, in the format's order.

    A field outside its kind is written only if it holds something other than its default (which
    Rule.clean refuses for new rules), so an export never silently drops what a rule holds.
    """
    out: dict[str, Any] = {}
    for name in RULE_FIELDS:
        value = getattr(rule, name)
        if applies(rule, name) or not (_is_empty(value) or value == _default(name)):
            out[name] = _export_value(None if value == "" else value)
    return out


def ruleset_document(rule_set: RuleSet) -> dict[str, Any]:
    """The file of `rule_set` (any status): its name, notes and rules in creation order."""
    return {
        "format": FORMAT,
        "name": rule_set.name,
        "notes": rule_set.notes,
        "rules": [rule_document(r) for r in rule_set.rules.order_by("pk")],
    }


# --- reading ----------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_instant(value: str) -> datetime | None:
    """An ISO 8601 date-time; without an offset it is in TIME_ZONE (Asia/Shanghai)."""
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _rule_fields(raw: Any, path: str, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The keyword arguments of rule_add for one rule of the file (type errors into `errors`)."""

    def bad(name: str, message: str) -> None:
        errors.setdefault(f"{path}.{name}", []).append(message)

    if not isinstance(raw, dict):
        errors.setdefault(path, []).append(gettext("Each rule must be an object."))
        return {}
    for key in sorted(set(raw) - set(RULE_FIELDS)):
        bad(
            key,
            gettext("Unknown key; the allowed keys are: %(allowed)s") % {"allowed": ", ".join(RULE_FIELDS)},
        )
    fields: dict[str, Any] = {}
    for name in RULE_FIELDS:
        value = raw.get(name)
        if name in ("name", "kind"):
            if not isinstance(value, str) or not value.strip():
                bad(name, gettext("Required: a non-empty string."))
                continue
            fields[name] = value
            continue
        if value is None:
            continue  # absent or null: the field does not apply, the model's default stands
        if name == "rate_percent":
            if not isinstance(value, str) or not _RATE.match(value):
                bad(name, gettext('Must be a decimal string, such as "10.00".'))
                continue
            value = Decimal(value)
        elif name in ("valid_from", "valid_to"):
            instant = parse_instant(value)
            if instant is None:
                bad(name, gettext("Must be an ISO 8601 time, such as 2026-03-01T00:00:00+08:00."))
                continue
            value = instant
        elif name in ("product_ids", "koc_ids"):
            if not isinstance(value, list) or not all(_is_int(v) and v > 0 for v in value):
                bad(name, gettext("Must be a list of positive integer IDs, such as [1, 2]."))
                continue
        elif name in ("level", "amount_fen", "scope_id", "target"):
            if not _is_int(value) or value < 0:
                bad(name, gettext("Must be a non-negative integer."))
                continue
        elif not isinstance(value, str):  # basis, scope, beneficiary_role, period, measure, metric
            bad(name, gettext("Must be a string."))
            continue
        fields[name] = value
    return fields


def parse_ruleset_document(document: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """({name, notes}, [rule_add keyword arguments]) of a file, or RuleSetFileInvalid with every
    problem by path. Only types and keys are checked here; the rules' meaning is checked by the
    model and compliance when they are added."""
    errors: dict[str, list[str]] = {}
    if not isinstance(document, dict):
        raise RuleSetFileInvalid(
            gettext("The file's content must be a JSON object."), fields={"": ["expected an object"]}
        )
    for key in sorted(set(document) - {"format", "name", "notes", "rules"}):
        errors.setdefault(key, []).append(
            gettext("Unknown key; the allowed keys are format, name, notes and rules.")
        )
    if not _is_int(document.get("format")) or document.get("format") != FORMAT:
        errors.setdefault("format", []).append(
            gettext("Must be %(format)s (this reader knows format %(format)s).") % {"format": FORMAT}
        )
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.setdefault("name", []).append(gettext("Required: a non-empty string."))
    notes = document.get("notes")
    if notes is not None and not isinstance(notes, str):
        errors.setdefault("notes", []).append(gettext("Must be a string."))
    rules = document.get("rules")
    parsed: list[dict[str, Any]] = []
    if not isinstance(rules, list):
        errors.setdefault("rules", []).append(gettext("Must be a list of rules."))
    else:
        parsed = [_rule_fields(raw, f"rules[{i}]", errors) for i, raw in enumerate(rules)]
    if errors:
        raise RuleSetFileInvalid(
            gettext("The rule-set file is not valid: %(problems)s")
            % {"problems": gettext("; ").join(f"{k} {'/'.join(v)}" for k, v in errors.items())},
            fields=errors,
        )
    return {"name": name, "notes": notes or ""}, parsed
