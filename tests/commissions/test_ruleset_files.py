"""Rule sets as files: `ruleset_export` / `ruleset_import` (docs/rulesets.md)."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.utils import timezone

from apps.commissions import demo
from apps.commissions.models import Rule, RuleSet
from apps.commissions.ruleset_files import RULE_FIELDS
from tests.commissions.factories import at, make_product, make_team

pytestmark = pytest.mark.django_db


def export(rule_set_id: int) -> dict:
    out = StringIO()
    call_command("ruleset_export", str(rule_set_id), stdout=out)
    return json.loads(out.getvalue())


def write(tmp_path, document, name="plan.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def run(*argv) -> tuple[int, str, str]:
    """The command as a shell runs it: (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    # run_from_argv closes every connection when it ends, which would end the test's transaction
    # on PostgreSQL: keep them open, everything else is the real command line.
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        mock.patch("django.core.management.base.connections.close_all"),
    ):
        try:
            execute_from_command_line(["manage.py", *argv])
            status = 0
        except SystemExit as exc:
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def rule_values(rule_set: RuleSet) -> list[dict]:
    return [{name: getattr(r, name) for name in RULE_FIELDS} for r in rule_set.rules.order_by("pk")]


def counts() -> tuple[int, int]:
    return RuleSet.objects.count(), Rule.objects.count()


@pytest.fixture
def demo_set(db) -> RuleSet:
    demo.seed(StringIO())
    return RuleSet.objects.get(name=demo.DEMO_NAME)


def test_the_demo_plan_is_exported_as_the_documented_file(demo_set):
    # when
    document = export(demo_set.pk)

    # then: exactly the example of docs/rulesets.md
    assert document == {
        "format": 1,
        "name": "基础分佣方案",
        "notes": "直推 10%，上级 3%；最多 COMMISSION_MAX_LEVELS 级个人佣金。",
        "rules": [
            {
                "name": "直推奖励",
                "kind": "sales",
                "level": 0,
                "basis": "percent",
                "rate_percent": "10.00",
                "scope": "all",
                "product_ids": [],
                "koc_ids": [],
                "valid_from": None,
                "valid_to": None,
            },
            {
                "name": "上级奖励",
                "kind": "sales",
                "level": 1,
                "basis": "percent",
                "rate_percent": "3.00",
                "scope": "all",
                "product_ids": [],
                "koc_ids": [],
                "valid_from": None,
                "valid_to": None,
            },
        ],
    }


def test_the_documented_example_is_what_export_prints(demo_set):
    # given: the first JSON block after the example's heading in docs/rulesets.md
    text = (settings.BASE_DIR / "docs" / "rulesets.md").read_text(encoding="utf-8")
    example = text.split("## Example: the demo plan", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]

    # when
    out = StringIO()
    call_command("ruleset_export", str(demo_set.pk), stdout=out)

    # then
    assert out.getvalue() == example


def test_the_demo_plan_round_trips_through_export_and_import(demo_set, tmp_path):
    # given
    document = export(demo_set.pk)
    before = counts()

    # when
    status, out, err = run("ruleset_import", write(tmp_path, document))

    # then: a new draft, equal to the demo plan field for field
    assert (status, err) == (0, "")
    imported = RuleSet.objects.exclude(pk=demo_set.pk).get()
    assert counts() == (before[0] + 1, before[1] + 2)
    assert imported.status == RuleSet.Status.DRAFT
    assert (imported.name, imported.notes) == (demo_set.name, demo_set.notes)
    assert rule_values(imported) == rule_values(demo_set)
    assert export(imported.pk) == document
    assert out.strip() == f"imported 基础分佣方案 as v{imported.version} (id {imported.pk}), 2 rules, draft"


def test_a_plan_of_every_kind_round_trips(tmp_path):
    # given: sales (percent and per unit), targeted with a window and lists, team, tier, periodic
    team = make_team()
    product = make_product(price_fen=9900)
    start = at(0).replace(microsecond=0)
    document = {
        "format": 1,
        "name": "全类型方案",
        "notes": "",
        "rules": [
            {"name": "直推", "kind": "sales", "level": 0, "basis": "percent", "rate_percent": "8.50"},
            {
                "name": "按件",
                "kind": "sales",
                "level": 0,
                "basis": "per_unit",
                "amount_fen": 99,
                "scope": "product",
                "scope_id": product.pk,
            },
            {
                "name": "新品周",
                "kind": "targeted",
                "basis": "percent",
                "rate_percent": "2.00",
                "product_ids": [product.pk],
                "koc_ids": [team["mia"].pk],
                "valid_from": start.isoformat(),
                "valid_to": (start + timedelta(days=7)).isoformat(),
            },
            {"name": "机构", "kind": "team", "rate_percent": "1.00", "beneficiary_role": "agency"},
            {"name": "等级", "kind": "tier", "scope": "all"},
            {
                "name": "月度",
                "kind": "periodic",
                "amount_fen": 1000,
                "period": "month",
                "measure": "own",
                "metric": "amount",
                "target": 1_000_000,
            },
        ],
    }

    # when
    status, _out, err = run("ruleset_import", write(tmp_path, document))

    # then
    assert (status, err) == (0, "")
    imported = RuleSet.objects.get(name="全类型方案")
    again = export(imported.pk)
    assert [r["kind"] for r in again["rules"]] == ["sales", "sales", "targeted", "team", "tier", "periodic"]
    status, _out, err = run("ruleset_import", write(tmp_path, again, "again.json"))
    assert (status, err) == (0, "")
    copy = RuleSet.objects.filter(name="全类型方案").exclude(pk=imported.pk).get()
    assert rule_values(copy) == rule_values(imported)
    assert export(copy.pk) == again
    targeted = imported.rules.get(kind="targeted")
    assert (targeted.valid_from, targeted.valid_to) == (start, start + timedelta(days=7))
    assert targeted.rate_percent == Decimal("2.00")
    assert (targeted.product_ids, targeted.koc_ids) == ([product.pk], [team["mia"].pk])
    # fields outside a kind are absent from the file
    assert set(again["rules"][4]) == {
        "name",
        "kind",
        "scope",
        "product_ids",
        "koc_ids",
        "valid_from",
        "valid_to",
    }
    assert "level" not in again["rules"][5] and "rate_percent" not in again["rules"][5]


def test_importing_a_forbidden_rule_exits_1_with_its_code_and_creates_nothing(demo_set, tmp_path):
    # given: the demo plan with its upline rule moved to a third level (COMMISSION_MAX_LEVELS = 2)
    document = export(demo_set.pk)
    document["rules"][1]["level"] = 2
    before = counts()

    # when
    status, out, err = run("ruleset_import", write(tmp_path, document))

    # then
    assert status == 1
    assert out == ""
    assert err.splitlines() == [
        "too_many_levels: 「上级奖励」：第 2 级上级超出限制，个人佣金最多 2 级（含成交 KOC 本人）",
        "CommandError: rule_set_not_compliant: nothing was created",
    ]
    assert counts() == before


def test_a_recruiting_reward_is_refused_with_its_code(tmp_path):
    document = {
        "format": 1,
        "name": "拉新",
        "notes": "",
        "rules": [
            {"name": "直推", "kind": "sales", "level": 0, "rate_percent": "10.00"},
            {"name": "注册奖", "kind": "signup", "amount_fen": 500},
        ],
    }

    status, _out, err = run("ruleset_import", write(tmp_path, document))

    assert status == 1
    assert err.splitlines()[0].startswith("recruiting_reward_forbidden: 「注册奖」")
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"format": 2}, "format: 必须是 1 (this reader knows format 1)"),
        ({"version": 3}, "version: 未知字段 (unknown key); 允许: format, name, notes, rules"),
        ({"name": 7}, "name: 必填，字符串 (a non-empty string)"),
        ({"rules": {"name": "x"}}, "rules: 必须是规则的列表 (a list of rules)"),
        ({"rule0": {"rate": "10.00"}}, "rules[0].rate: 未知字段 (unknown key); 允许的字段: "),
        ({"rule0": {"rate_percent": 10.5}}, 'rules[0].rate_percent: 必须是小数字符串，例如 "10.00"'),
        ({"rule0": {"rate_percent": "10%"}}, 'rules[0].rate_percent: 必须是小数字符串，例如 "10.00"'),
        ({"rule0": {"level": "1"}}, "rules[0].level: 必须是非负整数 (a non-negative integer)"),
        ({"rule0": {"level": True}}, "rules[0].level: 必须是非负整数 (a non-negative integer)"),
        ({"rule0": {"product_ids": [1, "2"]}}, "rules[0].product_ids: 必须是正整数 ID 的列表"),
        ({"rule0": {"valid_from": "next monday"}}, "rules[0].valid_from: 必须是 ISO 8601 时间"),
        ({"rule0": {"kind": None}}, "rules[0].kind: 必填，字符串 (a non-empty string)"),
    ],
)
def test_a_malformed_file_exits_1_naming_the_problem_and_creates_nothing(demo_set, tmp_path, change, problem):
    # given
    document = export(demo_set.pk)
    for key, value in change.items():
        if key == "rule0":
            document["rules"][0].update(value)
        else:
            document[key] = value
    before = counts()

    # when
    status, out, err = run("ruleset_import", write(tmp_path, document))

    # then
    assert status == 1
    assert out == ""
    assert err.splitlines()[0].startswith(problem)
    assert err.splitlines()[-1] == "CommandError: invalid_ruleset_file: nothing was created"
    assert counts() == before


def test_not_json_exits_1(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1,', encoding="utf-8")

    status, _out, err = run("ruleset_import", str(path))

    assert status == 1
    assert err.startswith("CommandError: invalid_ruleset_file: not JSON (Expecting property name")
    assert counts() == (0, 0)


def test_a_rule_missing_what_its_kind_needs_is_refused_by_the_models_checks(tmp_path):
    # given: a percent sales rule without its rate, after a valid one (nothing of either is kept)
    document = {
        "format": 1,
        "name": "缺比例",
        "notes": "",
        "rules": [
            {"name": "直推", "kind": "sales", "level": 0, "rate_percent": "10.00"},
            {"name": "上级", "kind": "sales", "level": 1},
        ],
    }

    status, _out, err = run("ruleset_import", write(tmp_path, document))

    assert status == 1
    assert err.splitlines() == [
        "rules[1].rate_percent: 请填写比例",
        "CommandError: invalid_rule: nothing was created",
    ]
    assert counts() == (0, 0)


def test_activate_from_a_future_instant_takes_over_from_the_set_in_force(demo_set, tmp_path):
    # given
    document = export(demo_set.pk)
    document["rules"][0]["rate_percent"] = "12.00"
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)

    # when
    status, out, err = run(
        "ruleset_import", write(tmp_path, document), "--activate", "--from", start.isoformat()
    )

    # then
    assert (status, err) == (0, "")
    imported = RuleSet.objects.exclude(pk=demo_set.pk).get()
    assert imported.status == RuleSet.Status.ACTIVE
    assert imported.effective_from == start
    assert imported.rules.get(level=0).rate_percent == Decimal("12.00")
    demo_set.refresh_from_db()
    assert demo_set.effective_to == start  # the open-ended demo plan hands over at `start`
    assert out.strip().endswith(f"2 rules, active from {start.isoformat()}")


def test_activate_from_a_past_instant_is_refused_and_creates_nothing(demo_set, tmp_path):
    # given: a start an hour ago (activation allows a minute of clock skew, no more)
    document = export(demo_set.pk)
    before = counts()

    # when
    status, out, err = run(
        "ruleset_import",
        write(tmp_path, document),
        "--activate",
        "--from",
        (timezone.now() - timedelta(hours=1)).isoformat(),
    )

    # then
    assert (status, out) == (1, "")
    assert err.startswith("CommandError: activation_in_past: 生效时间 ")
    assert err.rstrip().endswith("(nothing was created)")
    assert counts() == before
    demo_set.refresh_from_db()
    assert demo_set.effective_to is None


def test_a_field_the_kind_does_not_use_is_refused(tmp_path):
    # given: a tier rule carrying a rate (a tier rule pays the level's bonus, never a rate of its own)
    document = {
        "format": 1,
        "name": "等级",
        "notes": "",
        "rules": [
            {"name": "直推", "kind": "sales", "level": 0, "rate_percent": "10.00"},
            {"name": "等级加成", "kind": "tier", "rate_percent": "5.00"},
        ],
    }

    # when
    status, _out, err = run("ruleset_import", write(tmp_path, document))

    # then
    assert status == 1
    assert err.splitlines() == [
        "rules[1].rate_percent: 「等级权益」不使用此字段，请留空",
        "CommandError: invalid_rule: nothing was created",
    ]
    assert counts() == (0, 0)


def test_activate_without_from_starts_now(demo_set, tmp_path):
    document = export(demo_set.pk)
    before = timezone.now()

    status, _out, err = run("ruleset_import", write(tmp_path, document), "--activate")

    assert (status, err) == (0, "")
    imported = RuleSet.objects.exclude(pk=demo_set.pk).get()
    assert imported.status == RuleSet.Status.ACTIVE
    assert before <= imported.effective_from <= timezone.now()


def test_an_activation_refused_leaves_no_draft_behind(demo_set, tmp_path):
    # given: a set already active from a future instant, then an import overlapping it
    document = export(demo_set.pk)
    start = timezone.now() + timedelta(days=3)
    status, _out, _err = run(
        "ruleset_import", write(tmp_path, document), "--activate", "--from", start.isoformat()
    )
    assert status == 0
    later = RuleSet.objects.get(status=RuleSet.Status.ACTIVE, effective_from=start)
    later.effective_to = start + timedelta(days=30)
    later.save(update_fields=["effective_to"])
    before = counts()

    # when: a second import starting inside its window
    status, _out, err = run(
        "ruleset_import",
        write(tmp_path, document, "again.json"),
        "--activate",
        "--from",
        (start + timedelta(days=1)).isoformat(),
    )

    # then
    assert status == 1
    assert err.startswith("CommandError: rule_set_overlap: 与「基础分佣方案」")
    assert counts() == before


def test_from_needs_activate_and_an_iso_instant(demo_set, tmp_path):
    path = write(tmp_path, export(demo_set.pk))

    assert run("ruleset_import", path, "--from", "2030-01-01T00:00:00+08:00")[2] == (
        "CommandError: invalid_input: --from needs --activate\n"
    )
    assert run("ruleset_import", path, "--activate", "--from", "soon")[2] == (
        "CommandError: invalid_input: --from is not an ISO 8601 date-time: 'soon'\n"
    )
    assert counts() == (1, 2)


def test_exporting_an_unknown_set_fails():
    with pytest.raises(CommandError, match="not_found: no rule set 404"):
        call_command("ruleset_export", "404", stdout=StringIO())
