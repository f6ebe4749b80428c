"""Error codes of the commission engine (clients and the admin switch on `code`)."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError, InvalidInput, NotFound


class NotAKoc(NotFound):
    code = "not_a_koc"
    default_message = _("You are not a KOC yet.")


class InsufficientBalance(ApplicationError):
    code = "insufficient_balance"
    default_message = _("Your withdrawable balance is not enough.")


class IdempotencyKeyRequired(InvalidInput):
    code = "idempotency_key_required"
    default_message = _("The request needs an Idempotency-Key header.")


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    default_message = _("This Idempotency-Key was already used for another request.")


class WithdrawalBelowMinimum(InvalidInput):
    code = "withdrawal_below_minimum"
    default_message = _("The amount is below the minimum for one withdrawal.")


class DailyLimitExceeded(ApplicationError):
    code = "daily_limit_exceeded"
    default_message = _("The amount is over the daily withdrawal limit.")


class IdentityRequired(ApplicationError):
    """Tax is withheld and declared under the person's name and ID number: no identity, no payout."""

    code = "identity_required"
    default_message = _("Please fill in your real name and ID number before withdrawing.")


class WithdrawalPending(ApplicationError):
    """An individual has one transfer in flight at a time (its tax decides the next one's)."""

    code = "withdrawal_pending"
    default_message = _(
        "Your previous withdrawal is not finished yet: confirm it in WeChat or cancel it first."
    )


class InvoiceRequired(ApplicationError):
    code = "invoice_required"
    default_message = _("The organisation's invoice must be received before the bank transfer.")


class WithdrawalNotB2B(ApplicationError):
    code = "withdrawal_not_b2b"
    default_message = _(
        "Only an organisation's settlement waiting for a bank transfer can be handled this way."
    )


class PayeeUnavailable(ApplicationError):
    code = "payee_unavailable"
    default_message = _("This account cannot be paid (no WeChat bound, or not approved).")


class WithdrawalInProgress(ApplicationError):
    """The first request with this key is still talking to WeChat: retry the same request later."""

    code = "withdrawal_in_progress"
    default_message = _("The withdrawal is being processed, please retry later.")


class RuleSetNotEditable(ApplicationError):
    code = "rule_set_not_editable"
    default_message = _("An active or retired rule set cannot be changed: copy it as a new version.")


class RuleSetOverlap(ApplicationError):
    code = "rule_set_overlap"
    default_message = _("The effective period overlaps another active rule set.")


class RuleSetActivationInPast(ApplicationError):
    """An order is paid by the set in force at its payment time: a start in the past would re-price
    orders already paid (or pay two orders of the same moment by different sets)."""

    status_code = 400
    code = "activation_in_past"
    default_message = _("The effective time cannot be earlier than now.")


class RuleSetNotCompliant(ApplicationError):
    """One or more compliance violations; `fields` maps each violation's code to its messages."""

    status_code = 400
    code = "rule_set_not_compliant"
    default_message = _("The rule set is not compliant.")

    def __init__(self, violations):
        self.violations = list(violations)
        fields: dict[str, list[str]] = {}
        for v in self.violations:
            fields.setdefault(v.code, []).append(v.message)
        message = self.default_message
        for i, v in enumerate(self.violations):
            # Chinese joins the violations with "；", English (full sentences) with a space.
            message = (
                v.message
                if i == 0
                else gettext("%(previous)s %(next)s") % {"previous": message, "next": v.message}
            )
        super().__init__(message, fields=fields)

    @property
    def codes(self) -> list[str]:
        return [v.code for v in self.violations]


class RuleSetFileInvalid(InvalidInput):
    """A rule-set file (docs/rulesets.md) is not in the format; `fields` names each problem's path."""

    code = "invalid_ruleset_file"
    default_message = _("The rule-set file is not valid.")


class RuleInvalid(InvalidInput):
    """A rule's fields do not fit its kind (Rule.clean); `fields` maps each field to its messages."""

    code = "invalid_rule"
    default_message = _("A rule is not filled in correctly.")


class WithdrawalNotCancellable(ApplicationError):
    status_code = 409
    code = "withdrawal_not_cancellable"
    default_message = _("This withdrawal can no longer be cancelled (already confirmed or finished).")
