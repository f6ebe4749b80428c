"""Error codes of the commission engine (clients and the admin switch on `code`)."""

from apps.core.errors import ApplicationError, InvalidInput, NotFound


class NotAKoc(NotFound):
    code = "not_a_koc"
    default_message = "您还不是 KOC"


class InsufficientBalance(ApplicationError):
    code = "insufficient_balance"
    default_message = "可提现余额不足"


class IdempotencyKeyRequired(InvalidInput):
    code = "idempotency_key_required"
    default_message = "请求头需要 Idempotency-Key"


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    default_message = "该 Idempotency-Key 已用于另一个请求"


class WithdrawalBelowMinimum(InvalidInput):
    code = "withdrawal_below_minimum"
    default_message = "低于单笔最低提现金额"


class DailyLimitExceeded(ApplicationError):
    code = "daily_limit_exceeded"
    default_message = "超过每日提现上限"


class IdentityRequired(ApplicationError):
    """Tax is withheld and declared under the person's name and ID number: no identity, no payout."""

    code = "identity_required"
    default_message = "提现前请先填写实名信息（姓名和身份证号）"


class WithdrawalPending(ApplicationError):
    """An individual has one transfer in flight at a time (its tax decides the next one's)."""

    code = "withdrawal_pending"
    default_message = "上一笔提现尚未完成，请先在微信中确认收款或取消"


class InvoiceRequired(ApplicationError):
    code = "invoice_required"
    default_message = "须先收到机构的发票才能对公打款"


class WithdrawalNotB2B(ApplicationError):
    code = "withdrawal_not_b2b"
    default_message = "只有待对公打款的机构结算可以这样处理"


class PayeeUnavailable(ApplicationError):
    code = "payee_unavailable"
    default_message = "无法向该账户打款（未绑定微信或未通过审核）"


class WithdrawalInProgress(ApplicationError):
    """The first request with this key is still talking to WeChat: retry the same request later."""

    code = "withdrawal_in_progress"
    default_message = "提现处理中，请稍后重试"


class RuleSetNotEditable(ApplicationError):
    code = "rule_set_not_editable"
    default_message = "已生效或已停用的规则集不能修改，请复制为新版本"


class RuleSetOverlap(ApplicationError):
    code = "rule_set_overlap"
    default_message = "生效时间与另一个生效中的规则集重叠"


class RuleSetActivationInPast(ApplicationError):
    """An order is paid by the set in force at its payment time: a start in the past would re-price
    orders already paid (or pay two orders of the same moment by different sets)."""

    status_code = 400
    code = "activation_in_past"
    default_message = "生效时间不能早于当前时间"


class RuleSetNotCompliant(ApplicationError):
    """One or more compliance violations; `fields` maps each violation's code to its messages."""

    status_code = 400
    code = "rule_set_not_compliant"
    default_message = "规则集不合规"

    def __init__(self, violations):
        self.violations = list(violations)
        fields: dict[str, list[str]] = {}
        for v in self.violations:
            fields.setdefault(v.code, []).append(v.message)
        message = "；".join(v.message for v in self.violations) or self.default_message
        super().__init__(message, fields=fields)

    @property
    def codes(self) -> list[str]:
        return [v.code for v in self.violations]


class RuleSetFileInvalid(InvalidInput):
    """A rule-set file (docs/rulesets.md) is not in the format; `fields` names each problem's path."""

    code = "invalid_ruleset_file"
    default_message = "规则集文件无效"


class RuleInvalid(InvalidInput):
    """A rule's fields do not fit its kind (Rule.clean); `fields` maps each field to its messages."""

    code = "invalid_rule"
    default_message = "规则填写有误"


class WithdrawalNotCancellable(ApplicationError):
    status_code = 409
    code = "withdrawal_not_cancellable"
    default_message = "该提现已不能撤销（用户已确认收款或已结束）"
