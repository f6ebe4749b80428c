"""Error codes of the KOC app (clients switch on `code`)."""

from apps.core.errors import ApplicationError, InvalidInput, NotFound


class NotAKoc(NotFound):
    code = "not_a_koc"
    default_message = "您还不是 KOC"


class AlreadyApplied(ApplicationError):
    code = "already_applied"
    default_message = "您已提交过申请"


class InviteCodeInvalid(InvalidInput):
    code = "invite_code_invalid"
    default_message = "邀请码无效"


class KocNotPending(ApplicationError):
    code = "koc_not_pending"
    default_message = "该申请不在待审核状态"


class InvalidParent(ApplicationError):
    code = "invalid_parent"
    default_message = "不能放在该上级之下"


class ReasonRequired(InvalidInput):
    code = "reason_required"
    default_message = "请填写原因"


class InvitationNotPending(ApplicationError):
    code = "invitation_not_pending"
    default_message = "该邀请已处理"


class ProductNotAvailable(InvalidInput):
    code = "product_not_available"
    default_message = "商品不存在或已下架"


class StorefrontFull(ApplicationError):
    code = "storefront_full"
    default_message = "橱窗商品已达上限"


class InvalidIdNumber(InvalidInput):
    code = "invalid_id_number"
    default_message = "身份证号无效（18 位，校验码按 GB 11643）"


class IdNumberTaken(ApplicationError):
    code = "id_number_taken"
    default_message = "该身份证号已绑定另一个 KOC 账户"
