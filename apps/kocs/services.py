"""Writes of the KOC app: applications and reviews, the team tree, tiers, and the sales read model.

Every structural write of the tree (a new node, approval placing an applicant, a move) starts with
`lock_team_tree()` and re-reads the nodes it touches afterwards: django-mptt computes new lft/rght
values from what it read, so it must read after the lock. Non-structural changes of a Koc go through
`save(update_fields=...)` or `.update()`, never a bare `save()` of an instance that may hold stale
lft/rght values.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.models import User
from apps.core import audit
from apps.core.crypto import lookup_digest
from apps.core.errors import InvalidInput, NotFound
from apps.shop.models import Brand, Category, Product

from . import identity, selectors
from .errors import (
    AlreadyApplied,
    IdNumberTaken,
    InvalidIdNumber,
    InvalidParent,
    InvitationNotPending,
    InviteCodeInvalid,
    KocNotPending,
    ProductNotAvailable,
    ReasonRequired,
    StorefrontFull,
)
from .lock_objects import lock_koc, lock_team_tree
from .models import (
    BrandInvitation,
    Koc,
    KocOrderLine,
    KocParentHistory,
    KocProductPick,
    KocSale,
    Level,
    LevelHistory,
    TierPolicy,
)

# Uppercase without look-alikes (0/O, 1/I/L): codes are read aloud and typed from posters.
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 6

Role = Koc.Role
Status = Koc.Status

# Who may sit directly under whom. None is "at the top of a tree".
ALLOWED_PARENT_ROLES: dict[str, frozenset] = {
    Role.BRANCH: frozenset({None}),
    Role.AGENCY: frozenset({Role.BRANCH}),
    Role.LEADER: frozenset({Role.AGENCY, None}),
    Role.KOC: frozenset({Role.LEADER, Role.KOC, None}),
}
MPTT_FIELDS = ["lft", "rght", "tree_id", "depth"]


# --- invite codes ----------------------------------------------------------------------------------


def _random_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def _claim_invite_code(wanted: str = "") -> str:
    """A fresh unique code (or `wanted`, if free). Callers hold the tree lock, so check-then-insert
    cannot race with another new node; the unique constraint stays as the last word."""
    if wanted:
        wanted = wanted.strip().upper()
        if Koc.objects.filter(invite_code=wanted).exists():
            raise InviteCodeInvalid("邀请码已被占用", code="invite_code_taken", status_code=409)
        return wanted
    for _ in range(20):
        code = _random_code()
        if not Koc.objects.filter(invite_code=code).exists():
            return code
    raise RuntimeError("could not find a free invite code in 20 tries")  # 31^6 codes: never in practice


# --- placement rules -------------------------------------------------------------------------------


def check_placement(*, role: str, parent: Koc | None) -> None:
    allowed = ALLOWED_PARENT_ROLES[role]
    if parent is None:
        if None not in allowed:
            raise InvalidParent(f"{Role(role).label} 必须有上级")
        return
    if parent.role not in allowed:
        raise InvalidParent(f"{Role(role).label} 不能放在 {Role(parent.role).label} 之下")
    if not parent.is_approved:
        raise InvalidParent("上级不是已审核通过的节点")


def _fresh(koc: Koc | None) -> Koc | None:
    """Re-read a node after taking the tree lock: its tree fields may have moved since it was loaded."""
    return None if koc is None else Koc.objects.get(pk=koc.pk)


def _role_under(sponsor: Koc) -> str:
    """An agency recruits team leaders; a leader or a KOC recruits KOCs."""
    return Role.LEADER if sponsor.role == Role.AGENCY else Role.KOC


def _sponsor_for(code: str) -> Koc:
    sponsor = selectors.approved_koc_by_invite_code(code)
    if sponsor is None or sponsor.role == Role.BRANCH:
        raise InviteCodeInvalid()
    return sponsor


def _open_parent_row(*, koc: Koc, parent: Koc | None, at: datetime, by: User | None, reason: str) -> None:
    row = KocParentHistory(koc=koc, parent=parent, valid_from=at, reason=reason[:200], changed_by=by)
    row.full_clean()
    row.save()


# --- creating nodes --------------------------------------------------------------------------------


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
    lock_team_tree()
    parent = _fresh(parent)
    check_placement(role=role, parent=parent)
    if user is not None and Koc.objects.filter(user=user).exists():
        raise AlreadyApplied("该用户已是 KOC 或已提交申请")
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
    koc.full_clean(exclude=MPTT_FIELDS)
    koc.save()
    _open_parent_row(koc=koc, parent=parent, at=now, by=by, reason=reason)
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
    lock_team_tree()  # a new root takes max(tree_id) + 1
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
        raise InviteCodeInvalid("不能使用自己的邀请码")

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
        koc.full_clean(exclude=MPTT_FIELDS)
        koc.save()
    else:
        koc = Koc.objects.get(pk=existing.pk)
        for name, value in fields.items():
            setattr(koc, name, value)
        koc.full_clean(exclude=MPTT_FIELDS)
        koc.save(update_fields=list(fields))
    _set_favorite_categories(koc=koc, category_ids=favorite_category_ids)
    return koc


def identity_fields(id_number: str, *, koc_id: int | None = None) -> dict[str, str]:
    """The ID number's columns: validated (GB 11643), its digest unique to one KOC. Never logged."""
    if not id_number:
        return {}
    number = identity.normalise(id_number)
    if not identity.is_valid(number):
        raise InvalidIdNumber()
    digest = lookup_digest(number)
    taken = Koc.objects.filter(id_number_digest=digest)
    if koc_id is not None:
        taken = taken.exclude(pk=koc_id)
    if taken.exists():
        raise IdNumberTaken()
    return {"id_number": number, "id_number_digest": digest}


@transaction.atomic
def koc_identity_set(*, koc: Koc, real_name: str, id_number: str, by: User | None = None) -> Koc:
    """An individual's identity for tax withholding (POST koc/identity, or an operator in the admin).

    The number is checked (GB 11643 check digit, a real birth date), stored encrypted, and one
    number belongs to one KOC: the same person under two accounts would split her income and
    halve her withholding. The change is audited without the number (only its masked form).
    """
    koc = lock_koc(koc_id=koc.pk)
    if koc.is_organisation:
        raise InvalidInput("机构节点不需要个人身份信息", code="identity_not_applicable")
    real_name = (real_name or "").strip()
    if not real_name:
        raise InvalidInput("请填写真实姓名", code="invalid_real_name", fields={"real_name": ["必填"]})
    fields = {"real_name": real_name, **identity_fields(id_number, koc_id=koc.pk)}
    for name, value in fields.items():
        setattr(koc, name, value)
    try:
        with transaction.atomic():
            koc.save(update_fields=list(fields))
    except IntegrityError as exc:  # the same number claimed by another KOC at the same moment
        raise IdNumberTaken() from exc
    if by is not None:
        audit.record(
            actor=by, obj=koc, message=f"设置实名信息：{koc.real_name_masked} {koc.id_number_masked}"
        )
    return koc


@transaction.atomic
def koc_profile_update(
    *, koc: Koc, bio: str | None = None, favorite_category_ids: Iterable[int] | None = None
) -> Koc:
    """What a KOC may change about itself: the bio and the categories it likes."""
    if bio is not None:
        koc.bio = bio.strip()
        koc.save(update_fields=["bio"])
    if favorite_category_ids is not None:
        _set_favorite_categories(koc=koc, category_ids=favorite_category_ids)
    return koc


def _set_favorite_categories(*, koc: Koc, category_ids: Iterable[int]) -> None:
    """Replace the KOC's favourite categories; every id must be an active category."""
    ids = sorted(set(category_ids))
    found = set(Category.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    unknown = [i for i in ids if i not in found]
    if unknown:
        message = f"类目不存在：{unknown[0]}"
        raise InvalidInput(message, code="validation_error", fields={"favorite_category_ids": [message]})
    koc.favorite_categories.set(ids)


# --- reviews ---------------------------------------------------------------------------------------


@transaction.atomic
def koc_approve(*, koc: Koc, by: User | None) -> Koc:
    """Approve a pending applicant and place it under its sponsor (a structural write)."""
    lock_team_tree()
    koc = Koc.objects.get(pk=koc.pk)
    if koc.status != Status.PENDING:
        raise KocNotPending()
    parent = None
    if koc.sponsor_id:
        parent = Koc.objects.get(pk=koc.sponsor_id)
        if not parent.is_approved or parent.role == Role.BRANCH:
            raise InvalidParent("邀请人已不可用：请先为申请人换一个邀请人或清空邀请人")
        koc.role = _role_under(parent)
    check_placement(role=koc.role, parent=parent)
    now = timezone.now()
    koc.status = Status.APPROVED
    koc.approved_at = now
    koc.reviewed_at = now
    koc.reviewed_by = by
    koc.rejection_reason = ""
    if parent is not None:
        Koc.objects.move_node(koc, parent, "last-child")  # re-reads both nodes, moves, saves koc
    else:
        koc.save()
    _open_parent_row(koc=koc, parent=parent, at=now, by=by, reason="申请通过 approved")
    audit.record(actor=by, obj=koc, message=f"通过 KOC 申请，上级: {parent or '无（顶层）'}")
    evaluate_tiers_on_commit(koc.pk)
    return koc


@transaction.atomic
def koc_reject(*, koc: Koc, by: User | None, reason: str) -> Koc:
    """Reject a pending application with a reason the applicant sees in koc/me."""
    if not reason or not reason.strip():
        raise ReasonRequired("请填写拒绝原因，申请人会看到它")
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
            f"不能从 {koc.get_status_display()} 变为 {Status(status).label}", code="invalid_status"
        )
    koc.status = status
    koc.save(update_fields=["status"])
    audit.record(
        actor=by, obj=koc, message="暂停 KOC 资格" if status == Status.SUSPENDED else "恢复 KOC 资格"
    )
    return koc


# --- moving subtrees -------------------------------------------------------------------------------


@transaction.atomic
def koc_move(*, koc: Koc, new_parent: Koc | None, by: User | None, reason: str) -> Koc:
    """Move `koc` with its whole subtree under `new_parent` (None: make it a root), keeping history.

    The open parent-history row is closed at now and a new one opened, so commissions for orders
    paid before the move still find the old parent (`selectors.parent_on`).
    """
    if not reason or not reason.strip():
        raise ReasonRequired("请填写调整原因")
    lock_team_tree()
    koc = Koc.objects.get(pk=koc.pk)
    new_parent = _fresh(new_parent)
    if koc.status not in (Status.APPROVED, Status.SUSPENDED):
        raise InvalidParent("只能调整已审核通过的节点", code="koc_not_movable")
    if new_parent is not None and new_parent.tree_id == koc.tree_id and koc.lft <= new_parent.lft <= koc.rght:
        raise InvalidParent("不能移到自己或自己的下级之下", code="move_into_own_subtree")
    if (new_parent.pk if new_parent else None) == koc.parent_id:
        raise InvalidParent("已经在该上级之下", code="same_parent")
    check_placement(role=koc.role, parent=new_parent)

    now = timezone.now()
    old_parent_id = koc.parent_id
    Koc.objects.move_node(koc, new_parent, "last-child")
    KocParentHistory.objects.filter(koc=koc, valid_to__isnull=True).update(valid_to=now)
    _open_parent_row(koc=koc, parent=new_parent, at=now, by=by, reason=reason.strip())
    # Both teams changed: the new one may reach a level, the old one may fall below its own.
    if new_parent is not None:
        evaluate_tiers_on_commit(new_parent.pk)
    if old_parent_id is not None:
        evaluate_tiers_on_commit(old_parent_id)
    return koc


@transaction.atomic
def team_tree_rebuild() -> None:
    """Recompute lft/rght/level/tree_id from the parent pointers, under the tree lock."""
    lock_team_tree()
    Koc.objects.rebuild()


# --- tiers -----------------------------------------------------------------------------------------


def _meets(level: Level, stats: dict[str, int]) -> bool:
    return (
        stats["own_sales_fen"] >= level.min_own_sales_fen
        and stats["team_sales_fen"] >= level.min_team_sales_fen
        and stats["active_direct_kocs"] >= level.min_active_direct_kocs
    )


def _figures(koc: Koc) -> dict[str, int]:
    """What the level conditions are checked against, recorded with every level change."""
    return {
        "own_sales_fen": selectors.own_sales_fen(koc=koc),
        "team_sales_fen": selectors.team_sales_fen(koc=koc),
        "active_direct_kocs": selectors.active_direct_kocs(koc=koc),
    }


def _held(koc: Koc, now: datetime) -> bool:
    """An operator's level holds through the local date they chose."""
    return koc.level_held_until is not None and timezone.localdate(now) <= koc.level_held_until


def _change_level(
    *,
    koc: Koc,
    to: Level | None,
    reason: str,
    stats: dict,
    now: datetime,
    by: User | None = None,
    automatic: bool = True,
    held_until: date | None = None,
) -> LevelHistory:
    entry = LevelHistory.objects.create(
        koc=koc,
        from_level=koc.level,
        to_level=to,
        reason=reason[:200],
        automatic=automatic,
        changed_by=by,
        stats=stats,
        held_until=held_until,
        at=now,
    )
    koc.level = to
    koc.level_below_since = None
    koc.level_held_until = held_until
    koc.save(update_fields=["level", "level_below_since", "level_held_until"])
    return entry


@transaction.atomic
def koc_evaluate_tier(*, koc_id: int, now: datetime | None = None) -> LevelHistory | None:
    """Put an approved individual on the level its figures (sales to others, net of refunds) give.

    - the highest level whose every condition it meets is above its level: upgraded at once;
    - it no longer meets its level's conditions: `level_below_since` records since when, and the
      admin's `TierPolicy` decides when (if ever) it drops to the highest level still met;
    - an operator's level (`level_held_until`) is left alone through the date they chose.
    Returns the recorded change, or None when the level stayed. Safe to run any number of times.
    """
    now = now or timezone.now()
    koc = lock_koc(koc_id=koc_id)
    if not koc.is_approved or not koc.is_individual or _held(koc, now):
        return None
    stats = _figures(koc)
    best = next((level for level in selectors.levels_above(rank=None) if _meets(level, stats)), None)
    current = koc.level
    if best is not None and (current is None or best.rank > current.rank):
        return _change_level(koc=koc, to=best, reason="达到升级条件 conditions met", stats=stats, now=now)
    if current is None or _meets(current, stats):
        if koc.level_below_since is not None:
            koc.level_below_since = None
            koc.save(update_fields=["level_below_since"])
        return None

    # Below the conditions of its level: the downgrade policy decides.
    if koc.level_below_since is None:
        koc.level_below_since = now
        koc.save(update_fields=["level_below_since"])
    policy = TierPolicy.load()
    if policy.downgrade == TierPolicy.Downgrade.NEVER:
        return None
    if now - koc.level_below_since < timedelta(days=policy.downgrade_after_days):
        return None
    since = timezone.localtime(koc.level_below_since)
    figures = {
        **stats,
        "below_since": since.isoformat(),
        "downgrade_after_days": policy.downgrade_after_days,
    }
    reason = f"自 {since:%Y-%m-%d %H:%M} 起低于等级条件 {policy.downgrade_after_days} 天 below conditions"
    return _change_level(koc=koc, to=best, reason=reason, stats=figures, now=now)


@transaction.atomic
def koc_set_level(
    *,
    koc: Koc,
    level: Level | None,
    by: User | None,
    reason: str,
    hold_until: date | None = None,
    now: datetime | None = None,
) -> Koc:
    """An operator sets any level (up or down) with a reason, recorded in the level history.

    With `hold_until` (today or later) the level holds through that local date: the automatic
    evaluation leaves it alone until then (a penalty is not undone by the next sale, a protected
    head team is not lowered). Without it, the next evaluation decides as usual.
    """
    if not reason or not reason.strip():
        raise ReasonRequired("请填写调整等级的原因")
    now = now or timezone.now()
    if hold_until is not None and hold_until < timezone.localdate(now):
        message = "保持日期不能早于今天"
        raise InvalidInput(message, code="validation_error", fields={"hold_until": [message]})
    koc = lock_koc(koc_id=koc.pk)
    if level == koc.level and hold_until == koc.level_held_until:
        return koc
    held = f"，保持至 {hold_until:%Y-%m-%d}" if hold_until else ""
    audit.record(
        actor=by,
        obj=koc,
        message=f"等级 {koc.level or '无'} → {level or '无'}{held}，原因: {reason.strip()[:200]}",
    )
    _change_level(
        koc=koc,
        to=level,
        reason=reason.strip(),
        stats=_figures(koc),
        now=now,
        by=by,
        automatic=False,
        held_until=hold_until,
    )
    return koc


def evaluate_tiers_on_commit(koc_id: int) -> None:
    """Re-evaluate `koc_id` and its individual uplines in Celery, once the transaction commits."""
    from apps.core.deferred import send_on_commit

    from .tasks import evaluate_upline_tiers

    send_on_commit(evaluate_upline_tiers, koc_id)


@transaction.atomic
def upline_tiers_evaluate(*, koc_id: int) -> list[int]:
    """Evaluate `koc_id` and every individual above it now (their team sales include its sales).

    Returns the ids whose level changed (up or down)."""
    koc = Koc.objects.filter(pk=koc_id).first()
    if koc is None:
        return []
    changed = []
    chain = koc.get_ancestors(ascending=True, include_self=True).filter(
        role__in=Koc.INDIVIDUAL_ROLES, status=Status.APPROVED
    )
    for node_id in chain.values_list("pk", flat=True):
        if koc_evaluate_tier(koc_id=node_id) is not None:
            changed.append(node_id)
    return changed


def all_tiers_evaluate(*, now: datetime | None = None) -> int:
    """The nightly pass over every approved individual, each KOC in its own transaction: catches
    lost per-order tasks and carries out the downgrades whose waiting period ended without any new
    sale. Returns how many levels changed."""
    now = now or timezone.now()
    ids = Koc.objects.filter(status=Status.APPROVED, role__in=Koc.INDIVIDUAL_ROLES).values_list(
        "pk", flat=True
    )
    return sum(1 for koc_id in ids.iterator() if koc_evaluate_tier(koc_id=koc_id, now=now) is not None)


# --- the sales read model (from the shop's events) -------------------------------------------------


def _when(value) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(value) if value else None
    return parsed or timezone.now()


@transaction.atomic
def order_completed_record(*, order: dict) -> int | None:
    """Record a completed order: a sale for the attributed KOC, brand lines for affinity.

    Idempotent: one KocSale per order id, one line per (kind, item id). Returns the attributed KOC's
    id when a sale was recorded now, so its tiers (and its uplines') can be re-evaluated.
    """
    order_id = int(order["order_id"])
    completed_at = _when(order.get("completed_at"))
    paid = int(order.get("paid_fen") or 0)
    refunded = min(int(order.get("refunded_fen") or 0), paid)
    items = order.get("items") or []
    fully_refunded = paid > 0 and refunded >= paid
    recorded_for = None

    koc_id = order.get("attributed_koc_id")
    seller = Koc.objects.filter(pk=koc_id).first() if koc_id else None
    if seller is not None and not _is_own_purchase(order=order, seller=seller):
        _, created = KocSale.objects.get_or_create(
            order_id=order_id,
            defaults={
                "koc": seller,
                "order_no": str(order.get("order_no") or "")[:64],
                "paid_fen": paid,
                "refunded_fen": refunded,
                "amount_fen": paid - refunded,
                "units": sum(int(i.get("quantity") or 0) for i in items),
                "completed_at": completed_at,
            },
        )
        if created:
            recorded_for = seller.pk
        _record_lines(
            kind=KocOrderLine.Kind.SALE, koc=seller, order=order, at=completed_at, refunded=fully_refunded
        )

    buyer = Koc.objects.filter(user_id=order.get("buyer_id")).first() if order.get("buyer_id") else None
    if buyer is not None:
        _record_lines(
            kind=KocOrderLine.Kind.PURCHASE, koc=buyer, order=order, at=completed_at, refunded=fully_refunded
        )
    return recorded_for


def _is_own_purchase(*, order: dict, seller: Koc) -> bool:
    """A KOC buying through her own link (or bound to herself) sells to nobody: it is no sale, for
    her own sales, her team's, or any tier condition (her benefit is the tier price). The snapshot's
    flag says so; the buyer check covers snapshots made before the flag existed."""
    attribution = order.get("attribution") or {}
    if attribution.get("self_purchase"):
        return True
    buyer_id = order.get("buyer_id")
    return buyer_id is not None and seller.user_id is not None and int(buyer_id) == seller.user_id


def _record_lines(*, kind: str, koc: Koc, order: dict, at: datetime, refunded: bool) -> None:
    lines = [
        KocOrderLine(
            kind=kind,
            koc=koc,
            order_id=int(order["order_id"]),
            item_id=int(item["item_id"]),
            brand_id=item.get("brand_id"),
            product_id=item.get("product_id"),
            category_id=item.get("category_id"),
            quantity=int(item.get("quantity") or 0),
            line_fen=int(item.get("line_fen") or 0),
            refunded=refunded,
            completed_at=at,
        )
        for item in order.get("items") or []
    ]
    KocOrderLine.objects.bulk_create(lines, ignore_conflicts=True)


@transaction.atomic
def order_refund_record(*, refund: dict) -> int | None:
    """Lower a recorded sale by a refund made after completion. Idempotent and order-independent:
    the payload carries the order's cumulative refunded amount, and the larger one wins.

    Returns the seller's id when the sale went down now (its tiers and its uplines' must be
    evaluated again), else None."""
    order_id = int(refund["order_id"])
    if refund.get("fully_refunded"):
        KocOrderLine.objects.filter(order_id=order_id).update(refunded=True)
    sale = KocSale.objects.select_for_update().filter(order_id=order_id).first()
    if sale is None:
        return None  # not completed yet: order_completed will carry the refunded amount
    refunded = min(max(sale.refunded_fen, int(refund.get("refunded_fen") or 0)), sale.paid_fen)
    if refunded == sale.refunded_fen:
        return None
    sale.refunded_fen = refunded
    sale.amount_fen = sale.paid_fen - refunded
    sale.save(update_fields=["refunded_fen", "amount_fen", "updated_at"])
    return sale.koc_id


# --- storefront picks (选品) -----------------------------------------------------------------------

MAX_PICKS = 50


@transaction.atomic
def storefront_pick_add(*, koc: Koc, product_id: int) -> tuple[KocProductPick, bool]:
    """Feature a product in the KOC's storefront (last position). Adding it again changes nothing.

    Returns (pick, created). The KOC row is locked so the count and the position cannot race.
    """
    koc = lock_koc(koc_id=koc.pk)
    product = Product.objects.filter(pk=product_id, is_active=True, brand__is_active=True).first()
    if product is None:
        raise ProductNotAvailable()
    existing = KocProductPick.objects.filter(koc=koc, product=product).first()
    if existing is not None:
        return existing, False
    picks = KocProductPick.objects.filter(koc=koc)
    if picks.count() >= MAX_PICKS:
        raise StorefrontFull(f"橱窗最多 {MAX_PICKS} 件商品")
    last = picks.order_by("-position").values_list("position", flat=True).first()
    pick = KocProductPick(koc=koc, product=product, position=(last or 0) + 1)
    pick.full_clean()
    pick.save()
    return pick, True


@transaction.atomic
def storefront_pick_remove(*, koc: Koc, product_id: int) -> None:
    deleted, _ = KocProductPick.objects.filter(koc=koc, product_id=product_id).delete()
    if not deleted:
        raise NotFound("橱窗里没有这件商品")


# --- brand partnerships ----------------------------------------------------------------------------


@transaction.atomic
def brand_invitation_create(
    *, brand: Brand, koc: Koc, message: str = "", by: User | None = None, affinity_score: int = 0
) -> BrandInvitation:
    """A brand invites a KOC to partner. One open invitation per brand and KOC."""
    koc = lock_koc(koc_id=koc.pk)
    if not (koc.is_approved and koc.is_individual):
        raise InvalidInput("只能邀请已审核通过的个人 KOC", code="koc_not_invitable")
    if BrandInvitation.objects.filter(brand=brand, koc=koc, status=BrandInvitation.Status.INVITED).exists():
        raise InvitationNotPending("已邀请过该 KOC，等待对方回复", code="already_invited")
    invitation = BrandInvitation(
        brand=brand, koc=koc, message=message.strip()[:300], invited_by=by, affinity_score=affinity_score
    )
    invitation.full_clean()
    invitation.save()
    return invitation


@transaction.atomic
def brand_invitation_respond(*, invitation: BrandInvitation, accept: bool) -> BrandInvitation:
    """The invited KOC accepts or declines; only a pending invitation can be answered (else 409)."""
    invitation = BrandInvitation.objects.select_for_update().select_related("brand").get(pk=invitation.pk)
    if invitation.status != BrandInvitation.Status.INVITED:
        raise InvitationNotPending()
    invitation.status = BrandInvitation.Status.ACCEPTED if accept else BrandInvitation.Status.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    return invitation
