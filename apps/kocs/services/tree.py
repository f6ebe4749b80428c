"""The team tree's structure: who may sit under whom, placement, subtree moves and the rebuild.

Every structural write of the tree (a new node, approval placing an applicant, a move) starts with
`lock_team_tree()` and re-reads the nodes it touches afterwards: django-mptt computes new lft/rght
values from what it read, so it must read after the lock. Non-structural changes of a Koc go through
`save(update_fields=...)` or `.update()`, never a bare `save()` of an instance that may hold stale
lft/rght values.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User

from .. import selectors
from ..errors import (
    InvalidParent,
    InviteCodeInvalid,
    ReasonRequired,
)
from ..lock_objects import lock_team_tree
from ..models import (
    Koc,
    KocParentHistory,
)
from .tiers import evaluate_tiers_on_commit

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
