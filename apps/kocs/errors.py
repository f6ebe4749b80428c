"""Error codes of the KOC app (clients switch on `code`)."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError, InvalidInput, NotFound


class NotAKoc(NotFound):
    code = "not_a_koc"
    default_message = _("You are not a KOC yet.")


class AlreadyApplied(ApplicationError):
    code = "already_applied"
    default_message = _("You have applied already.")


class InviteCodeInvalid(InvalidInput):
    code = "invite_code_invalid"
    default_message = _("Invalid invite code.")


class KocNotPending(ApplicationError):
    code = "koc_not_pending"
    default_message = _("This application is not waiting for review.")


class InvalidParent(ApplicationError):
    code = "invalid_parent"
    default_message = _("The node cannot be placed under that parent.")


class ReasonRequired(InvalidInput):
    code = "reason_required"
    default_message = _("Please give a reason.")


class InvitationNotPending(ApplicationError):
    code = "invitation_not_pending"
    default_message = _("This invitation has been answered already.")


class ProductNotAvailable(InvalidInput):
    code = "product_not_available"
    default_message = _("The product does not exist or is no longer on sale.")


class StorefrontFull(ApplicationError):
    code = "storefront_full"
    default_message = _("The storefront is full.")


class InvalidIdNumber(InvalidInput):
    code = "invalid_id_number"
    default_message = _("Invalid ID number (18 characters, check digit per GB 11643).")


class IdNumberTaken(ApplicationError):
    code = "id_number_taken"
    default_message = _("This ID number belongs to another KOC account.")
