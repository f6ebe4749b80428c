"""Becoming a KOC: invite codes, creating nodes, applications and their review, suspension."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import User
from apps.core import audit

from ..errors import (
    AlreadyApplied,
    InvalidParent,
    InviteCodeInvalid,
    KocNotPending,
    ReasonRequired,
)
from ..lock_objects import lock_koc
from ..models import (
    Koc,
)
from .profile import _set_favorite_categories, identity_fields
from .tiers import evaluate_tiers_on_commit
from .tree import (
    MPTT_FIELDS,
    _fresh,
    _open_parent_row,
    _placed,
    _role_under,
    _sponsor_for,
    check_placement,
    place_new_node,
    place_under,
)

Role = Koc.Role
Status = Koc.Status

# Uppercase without look-alikes (0/O, 1/I/L): codes are read aloud and typed from posters.
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 6


# --- invite codes ----------------------------------------------------------------------------------


def _random_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def _claim_invite_code(wanted: str = "") -> str:
    """A fresh unique code (or `wanted`, if free). Two concurrent new nodes could still draw the
    same code: `_insert_new_node` retries on the unique constraint, the last word."""
    if wanted:
        wanted = wanted.strip().upper()
        if Koc.objects.filter(invite_code=wanted).exists():
            raise InviteCodeInvalid(
                gettext("This invite code is taken."), code="invite_code_taken", status_code=409
            )
        return wanted
    for _ in range(20):
        code = _random_code()
        if not Koc.objects.filter(invite_code=code).exists():
            return code
    raise RuntimeError("could not find a free invite code in 20 tries")  # 31^6 codes: never in practice


# --- creating nodes --------------------------------------------------------------------------------


def _lock_user(user: User | None) -> None:
    """One application per user at a time (a user is one node): lock the user's row."""
    if user is not None:
        User.objects.select_for_update().filter(pk=user.pk).exists()


def _validate_fields(koc: Koc) -> None:
    """The fields' own rules (lengths, choices). Uniqueness is checked by the flows themselves
    (the user's row is locked, the invite code claimed, the ID number's digest looked up) and
    enforced by the database's constraints; the foreign keys were just read."""
    koc.full_clean(
        exclude=[*MPTT_FIELDS, "user", "sponsor", "parent"], validate_unique=False, validate_constraints=False
    )


def _insert_new_node(koc: Koc, *, wanted_code: str) -> None:
    """Insert `koc`, drawing another invite code if a concurrent insert took the same one."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                koc.save()
            return
        except IntegrityError as exc:
            if "invite_code" not in str(exc) or wanted_code or attempt == 2:
                if "invite_code" in str(exc) and wanted_code:
                    raise InviteCodeInvalid(
                        gettext("This invite code is taken."), code="invite_code_taken", status_code=409
                    ) from exc
                raise
            koc.invite_code = _claim_invite_code()


@transaction.atomic
def koc_create(
    *,
    role: str,
    parent: Koc | None = None,
    user: User | None = None,
    real_name: str = "",
    id_number: str = "",
    legal_name: str = "",
    registration_number: str = "",
    bio: str = "",
    invite_code: str = "",
    by: User | None = None,
    reason: str = "created",
) -> Koc:
    """Create an approved node directly under `parent` (operators, the seed, organisation nodes)."""
    _lock_user(user)
    parent = _fresh(parent)
    check_placement(role=role, parent=parent)
    if user is not None and Koc.objects.filter(user=user).exists():
        raise AlreadyApplied(gettext("This user is already a KOC or has applied."))
    now = timezone.now()
    koc = Koc(
        user=user,
        role=role,
        status=Status.APPROVED,
        parent=parent,
        invite_code=_claim_invite_code(invite_code),
        real_name=real_name,
        **identity_fields(id_number),
        legal_name=legal_name,
        registration_number=registration_number,
        bio=bio,
        applied_at=now,
        reviewed_at=now,
        reviewed_by=by,
        approved_at=now,
    )
    _validate_fields(koc)
    plan = place_new_node(koc, parent)
    _insert_new_node(koc, wanted_code=invite_code)
    _open_parent_row(koc=koc, parent=parent, at=now, by=by, reason=reason)
    if plan is not None:
        _placed(plan, [koc.pk])
    evaluate_tiers_on_commit(koc.pk)
    return koc


@transaction.atomic
def koc_apply(
    *,
    user: User,
    real_name: str,
    bio: str = "",
    favorite_category_ids: Iterable[int] = (),
    invite_code: str = "",
    id_number: str = "",
) -> Koc:
    """A user asks to become a KOC. Free: no fee, no purchase, no condition on orders.

    The invite code (or, without one, the code the user signed up with) names the sponsor the
    applicant will be placed under when approved. Until then the applicant is a root of its own.
    A rejected applicant may apply again; anyone else who applied gets 409 already_applied.
    """
    _lock_user(user)
    existing = Koc.objects.filter(user=user).first()
    if existing is not None and existing.status != Status.REJECTED:
        raise AlreadyApplied()

    sponsor = None
    if invite_code and invite_code.strip():
        sponsor = _sponsor_for(invite_code)
    elif user.signup_invite_code:
        # A code remembered from a long-ago login that no longer works is not the applicant's fault.
        try:
            sponsor = _sponsor_for(user.signup_invite_code)
        except InviteCodeInvalid:
            sponsor = None
    if sponsor is not None and sponsor.user_id == user.pk:
        raise InviteCodeInvalid(gettext("You cannot use your own invite code."))

    now = timezone.now()
    fields = {
        "role": _role_under(sponsor) if sponsor else Role.KOC,
        "status": Status.PENDING,
        "sponsor": sponsor,
        "real_name": real_name.strip(),
        "bio": bio.strip(),
        "applied_at": now,
        "rejection_reason": "",
        "reviewed_at": None,
        "reviewed_by": None,
    }
    if id_number:
        fields.update(identity_fields(id_number, koc_id=existing.pk if existing else None))
    if existing is None:
        koc = Koc(user=user, invite_code=_claim_invite_code(), **fields)
        _validate_fields(koc)
        place_new_node(koc, None)  # a tree of its own until approved
        _insert_new_node(koc, wanted_code="")
    else:
        koc = Koc.objects.get(pk=existing.pk)
        for name, value in fields.items():
            setattr(koc, name, value)
        koc.full_clean(exclude=MPTT_FIELDS)
        koc.save(update_fields=list(fields))
    if favorite_category_ids or existing is not None:
        _set_favorite_categories(koc=koc, category_ids=favorite_category_ids)
    return koc


# --- reviews ---------------------------------------------------------------------------------------


@transaction.atomic
def koc_approve(*, koc: Koc, by: User | None) -> Koc:
    """Approve a pending applicant and place it under its sponsor (a structural write: one row)."""
    koc = Koc.objects.select_for_update(of=("self",)).get(pk=koc.pk)
    if koc.status != Status.PENDING:
        raise KocNotPending()
    parent = None
    if koc.sponsor_id:
        parent = Koc.objects.get(pk=koc.sponsor_id)
        if not parent.is_approved or parent.role == Role.BRANCH:
            raise InvalidParent(
                gettext(
                    "The inviter is no longer available: give the applicant another inviter"
                    " or clear the inviter first."
                )
            )
        koc.role = _role_under(parent)
    check_placement(role=koc.role, parent=parent)
    now = timezone.now()
    koc.status = Status.APPROVED
    koc.approved_at = now
    koc.reviewed_at = now
    koc.reviewed_by = by
    koc.rejection_reason = ""
    reviewed = ["role", "status", "approved_at", "reviewed_at", "reviewed_by", "rejection_reason"]
    if parent is not None:
        place_under(koc, parent, fields=reviewed)
    else:
        koc.save(update_fields=reviewed)
    _open_parent_row(koc=koc, parent=parent, at=now, by=by, reason="申请通过 approved")
    audit.record(actor=by, obj=koc, message=f"通过 KOC 申请，上级: {parent or '无（顶层）'}")
    evaluate_tiers_on_commit(koc.pk)
    return koc


@transaction.atomic
def koc_reject(*, koc: Koc, by: User | None, reason: str) -> Koc:
    """Reject a pending application with a reason the applicant sees in koc/me."""
    if not reason or not reason.strip():
        raise ReasonRequired(gettext("Please give the reason for the rejection: the applicant will see it."))
    koc = lock_koc(koc_id=koc.pk)
    if koc.status != Status.PENDING:
        raise KocNotPending()
    koc.status = Status.REJECTED
    koc.rejection_reason = reason.strip()[:200]
    koc.reviewed_at = timezone.now()
    koc.reviewed_by = by
    koc.save(update_fields=["status", "rejection_reason", "reviewed_at", "reviewed_by"])
    audit.record(actor=by, obj=koc, message=f"拒绝 KOC 申请: {koc.rejection_reason}")
    return koc


@transaction.atomic
def koc_set_status(*, koc: Koc, status: str, by: User | None) -> Koc:
    """Suspend an approved node or reinstate a suspended one (the tree does not change)."""
    koc = lock_koc(koc_id=koc.pk)
    allowed = {Status.SUSPENDED: Status.APPROVED, Status.APPROVED: Status.SUSPENDED}
    if allowed.get(status) != koc.status:
        raise KocNotPending(
            gettext("The status cannot change from %(current)s to %(new)s.")
            % {"current": koc.get_status_display(), "new": Status(status).label},
            code="invalid_status",
        )
    koc.status = status
    koc.save(update_fields=["status"])
    audit.record(
        actor=by, obj=koc, message="暂停 KOC 资格" if status == Status.SUSPENDED else "恢复 KOC 资格"
    )
    return koc
