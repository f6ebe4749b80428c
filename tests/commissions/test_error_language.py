"""The commission engine's refusals are in the caller's language: Chinese by default (byte for byte
the text it always had), English for en. The code clients switch on is the same in both."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.utils import translation

from apps.commissions.errors import RuleSetNotCompliant
from apps.commissions.models import Rule, Withdrawal
from apps.commissions.services import rules as rule_services
from tests.helpers import bearer_client


def withdraw(client, amount_fen, key=None, **headers):
    return client.post(
        "/api/v1/koc/withdrawals",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
        **headers,
    )


def test_a_withdrawal_refused_for_balance_answers_in_the_callers_language(team, earn, transfer_sandbox):
    client = bearer_client(team["mia"].user)
    earn(team["mia"], 500)

    zh = withdraw(client, 990)
    en = withdraw(client, 990, key="broke-en", HTTP_ACCEPT_LANGUAGE="en")

    assert (zh.status_code, en.status_code) == (409, 409)
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "insufficient_balance"
    assert zh.json()["error"]["message"] == "可提现余额 ¥5.00，不足 ¥9.90"
    assert en.json()["error"]["message"] == "Your withdrawable balance ¥5.00 is less than ¥9.90."
    # a retry of a stored refusal answers the stored body, whatever language the retry asks for
    again = withdraw(client, 990, key="broke-en")
    assert (again.status_code, again.json()) == (409, en.json())
    assert Withdrawal.objects.count() == 0


def test_a_missing_idempotency_key_is_refused_in_english_under_en(team, earn):
    client = bearer_client(team["mia"].user)
    en = client.post("/api/v1/koc/withdrawals", {"amount_fen": 100}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    zh = client.post("/api/v1/koc/withdrawals", {"amount_fen": 100}, format="json")
    assert en.json()["error"]["code"] == zh.json()["error"]["code"] == "idempotency_key_required"
    assert en.json()["error"]["message"] == "The request needs an Idempotency-Key header."
    assert zh.json()["error"]["message"] == "请求头需要 Idempotency-Key"


def _refusal(language: str) -> RuleSetNotCompliant:
    with translation.override(language):
        rule_set = rule_services.ruleset_create(name="草稿")
        with pytest.raises(RuleSetNotCompliant) as caught:
            rule_services.rule_add(
                rule_set=rule_set, name="r", kind=Rule.Kind.SALES, level=3, rate_percent=Decimal("1")
            )
    return caught.value


@pytest.mark.django_db
def test_a_compliance_refusal_reads_in_chinese_and_in_english(settings):
    settings.COMMISSION_MAX_LEVELS = 5

    zh, en = _refusal("zh-hans"), _refusal("en")

    assert zh.codes == en.codes == ["max_levels_setting", "too_many_levels"]
    assert zh.message == (
        "COMMISSION_MAX_LEVELS=5 超过法定上限 3，按 3 级执行；"
        "「r」：第 3 级上级超出限制，个人佣金最多 3 级（含成交 KOC 本人）"
    )
    assert zh.fields["too_many_levels"] == [
        "「r」：第 3 级上级超出限制，个人佣金最多 3 级（含成交 KOC 本人）"
    ]
    assert en.message == (
        "COMMISSION_MAX_LEVELS=5 is over the legal limit of 3: 3 levels apply. "
        "“r”: upline level 3 is over the limit; individual commissions reach at most 3 levels "
        "(the selling KOC included)."
    )


def test_a_rules_shape_errors_read_in_chinese_and_in_english():
    from django.core.exceptions import ValidationError

    def errors(language: str) -> dict:
        rule = Rule(kind=Rule.Kind.SALES, basis=Rule.Basis.PERCENT, level=0, rate_percent=None)
        with translation.override(language), pytest.raises(ValidationError) as caught:
            rule.clean()
        return caught.value.message_dict

    assert errors("zh-hans")["rate_percent"] == ["请填写比例"]
    assert errors("en")["rate_percent"] == ["Please fill in the rule's percentage."]


def test_a_rule_set_files_problems_read_in_chinese_and_in_english():
    from apps.commissions.errors import RuleSetFileInvalid
    from apps.commissions.ruleset_files import FORMAT, parse_ruleset_document

    def refusal(language: str) -> str:
        with translation.override(language), pytest.raises(RuleSetFileInvalid) as caught:
            parse_ruleset_document({"format": FORMAT, "name": "x", "rules": "none"})
        return caught.value.message

    assert refusal("zh-hans") == "规则集文件无效：rules 必须是规则的列表 (a list of rules)"
    assert refusal("en") == "The rule-set file is not valid: rules Must be a list of rules."
