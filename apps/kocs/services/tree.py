"""The team tree's structure: who may sit under whom, placement, subtree moves, renumbering.

The parent pointers (`Koc.parent_id`, and `KocParentHistory` for any past instant) are the tree's
truth: a placement or a move writes its own row and its history row, and nothing else. The nested
set django-mptt reads (tree_id, lft, rght, depth) is derived from them by renumbering a whole tree
(`tree_build.number_forest`) and writing only the rows whose values changed:

- in the writer's own transaction, under that tree's lock, when the tree is small (at most
  `KOCS_TREE_INLINE_NODES` nodes): small deployments and tests see an exact nested set at commit;
- otherwise by the one refresher (`refresh_team_trees`, a Celery task sent after commit and every
  minute by beat), which renumbers each changed tree once for all the writes since its last pass.

Until then a placed node carries placeholder values (`tree_build.placeholder_fields`) and its
change is listed in `KocTreeChange`. Reads that must be exact at every moment never use the nested
set: commissions walk the parent history, tiers the parent pointers (selectors).

Every placement re-reads the nodes it touches and writes them with `_save_tree_fields` (never
django-mptt's own insert or move, which would shift every row to the right). Non-structural changes
of a Koc go through `save(update_fields=...)` or `.update()`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from array import array
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import User

from .. import selectors
from ..errors import (
    InvalidParent,
    InviteCodeInvalid,
    ReasonRequired,
)
from ..lock_objects import lock_tree_moves, lock_trees, refresher_lock, tree_lock_held
from ..models import (
    Koc,
    KocParentHistory,
    KocTreeChange,
)
from ..tree_build import allocate_tree_ids, number_forest, placeholder_fields
from .tiers import evaluate_tiers_on_commit

logger = logging.getLogger(__name__)

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
# Rows per UPDATE statement (and per transaction, for the refresher) when writing a renumbering.
WRITE_BATCH = 5_000
# A walk up the parent pointers stops here: a deeper tree is a bug (or a loop).
MAX_DEPTH = 256

# --- placement rules -------------------------------------------------------------------------------


def check_placement(*, role: str, parent: Koc | None) -> None:
    allowed = ALLOWED_PARENT_ROLES[role]
    if parent is None:
        if None not in allowed:
            raise InvalidParent(gettext("%(role)s needs a parent") % {"role": Role(role).label})
        return
    if parent.role not in allowed:
        raise InvalidParent(
            gettext("%(role)s cannot go under %(parent)s")
            % {"role": Role(role).label, "parent": Role(parent.role).label}
        )
    if not parent.is_approved:
        raise InvalidParent(gettext("The parent is not an approved node"))


def _fresh(koc: Koc | None) -> Koc | None:
    """Re-read a node: its tree fields may have moved since it was loaded."""
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
    """The node's new open history row (the caller closed the previous one). Valid by construction;
    the constraints (one open row per node, valid_to >= valid_from) are the database's."""
    KocParentHistory.objects.create(koc=koc, parent=parent, valid_from=at, reason=reason[:200], changed_by=by)


# --- placing nodes ---------------------------------------------------------------------------------


def _id_rows(ids) -> tuple[str, object]:
    """A row source of ids for raw SQL, as one parameter (PostgreSQL array, SQLite JSON)."""
    ids = sorted({int(i) for i in ids})
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[])", ids
    return "SELECT value FROM json_each(%s)", json.dumps(ids)


def roots_of(koc_ids) -> dict[int, tuple[int, int]]:
    """{node id: (its root's id, the root's tree_id)} through the parent pointers: one query.

    Exact whatever state the nested set is in (a root's tree_id is set when it becomes a root and
    never changes after). Nodes that no longer exist are left out.
    """
    return {start: (root, tree_id) for start, (root, tree_id, _size) in _roots(koc_ids).items()}


def _roots(koc_ids) -> dict[int, tuple[int, int, int]]:
    """{node id: (root id, root tree_id, the root's tree size at its last renumbering)}."""
    if not koc_ids:
        return {}
    rows, param = _id_rows(koc_ids)
    sql = f"""
        WITH RECURSIVE up(start, id, parent_id, steps) AS (
            SELECT k.id, k.id, k.parent_id, 0 FROM kocs_koc k WHERE k.id IN ({rows})
            UNION ALL
            SELECT up.start, k.id, k.parent_id, up.steps + 1 FROM kocs_koc k
            JOIN up ON k.id = up.parent_id WHERE up.steps < %s
        )
        SELECT up.start, up.id, k.tree_id, k.rght / 2 FROM up JOIN kocs_koc k ON k.id = up.id
        WHERE up.parent_id IS NULL
    """  # noqa: S608 - fixed fragments only; the values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [param, MAX_DEPTH])
        return {start: (root, tree_id, size) for start, root, tree_id, size in cursor.fetchall()}


def inline_limit() -> int:
    return int(getattr(settings, "KOCS_TREE_INLINE_NODES", 500))


@dataclass
class _Plan:
    """Where a structural write lands: the roots of the trees it changes, and whether the writer
    renumbers them itself (small trees, under their locks, taken here before any row is written)."""

    roots: dict[int, int]  # root id -> tree_id
    inline: bool


def _plan(node_ids) -> _Plan:
    found = _roots([i for i in node_ids if i is not None])
    roots = {root: tree_id for root, tree_id, _size in found.values()}
    # The size from the root's rght: exact as of the tree's last renumbering, no count needed.
    inline = all(size <= inline_limit() for _root, _tree, size in found.values())
    if inline and roots:
        lock_trees(roots.values())
    return _Plan(roots=roots, inline=inline)


def _save_tree_fields(koc: Koc, fields: list[str]) -> None:
    """Save `fields` (the tree's among them) as they are: no django-mptt move, no row shifted."""
    models.Model.save(koc, update_fields=fields)


def _placed(plan: _Plan, koc_ids) -> None:
    """After a structural write: list the change, then renumber now (small trees) or leave it to
    the refresher (sent once the transaction commits)."""
    KocTreeChange.objects.bulk_create([KocTreeChange(koc_id=i) for i in koc_ids])
    if plan.inline:
        for root_id, tree_id in sorted(plan.roots.items(), key=lambda r: r[1]):
            _refresh_tree(root_id, tree_id, batched=False)  # its lock was taken by _plan
    else:
        schedule_refresh()


def place_new_node(koc: Koc, parent: Koc | None) -> _Plan | None:
    """Give a node about to be inserted its tree fields: under `parent` (the parent's last child,
    renumbered later), or a new tree of its own. Returns the plan to hand to `_placed` after the
    insert (None for a new root: a one-node tree is already numbered)."""
    if parent is None:
        koc.tree_id = allocate_tree_ids(1)[0]
        for name, value in placeholder_fields(None).items():
            setattr(koc, name, value)
        return None
    plan = _plan([parent.pk])
    if plan.inline:  # its tree fields may have changed while we waited for the tree's lock
        parent = Koc.objects.get(pk=parent.pk)
    for name, value in placeholder_fields(parent).items():
        setattr(koc, name, value)
    koc.tree_id = next(iter(plan.roots.values()), parent.tree_id)
    return plan


def place_under(koc: Koc, parent: Koc, *, fields: list[str]) -> None:
    """Place an existing root (an approved applicant, no children) under `parent` and save it with
    `fields`: one row written, whatever the tree's size."""
    plan = _plan([parent.pk])
    if plan.inline:  # its tree fields may have changed while we waited for the tree's lock
        parent = Koc.objects.get(pk=parent.pk)
    koc.parent = parent
    for name, value in placeholder_fields(parent).items():
        setattr(koc, name, value)
    koc.tree_id = next(iter(plan.roots.values()), parent.tree_id)
    _save_tree_fields(koc, [*fields, "parent", *MPTT_FIELDS])
    _placed(plan, [koc.pk])


# --- moving subtrees -------------------------------------------------------------------------------


def _is_in_subtree(*, node_id: int, top_id: int) -> bool:
    """Whether `node_id` is `top_id` or below it, through the parent pointers (one query)."""
    return node_id == top_id or top_id in selectors.current_ancestor_ids(koc_id=node_id)


@transaction.atomic
def koc_move(*, koc: Koc, new_parent: Koc | None, by: User | None, reason: str) -> Koc:
    """Move `koc` with its whole subtree under `new_parent` (None: make it a root), keeping history.

    The open parent-history row is closed at now and a new one opened, so commissions for orders
    paid before the move still find the old parent (`selectors.parent_on`). One row is written for
    the tree (the moved node's); its subtree follows through the parent pointers at once for every
    exact read, and in the nested set when its trees are renumbered.
    """
    if not reason or not reason.strip():
        raise ReasonRequired(gettext("Please give the reason for the move."))
    lock_tree_moves()
    koc = Koc.objects.get(pk=koc.pk)
    new_parent = _fresh(new_parent)
    if koc.status not in (Status.APPROVED, Status.SUSPENDED):
        raise InvalidParent(gettext("Only approved nodes can be moved."), code="koc_not_movable")
    if new_parent is not None and _is_in_subtree(node_id=new_parent.pk, top_id=koc.pk):
        raise InvalidParent(
            gettext("A node cannot move under itself or one of its own members."),
            code="move_into_own_subtree",
        )
    if (new_parent.pk if new_parent else None) == koc.parent_id:
        raise InvalidParent(gettext("It is already under that parent."), code="same_parent")
    check_placement(role=koc.role, parent=new_parent)

    now = timezone.now()
    old_parent_id = koc.parent_id
    # The trees it leaves and joins, locked (small ones) before any row is written.
    plan = _plan([old_parent_id, new_parent.pk if new_parent else None])
    koc = Koc.objects.get(pk=koc.pk)
    if new_parent is None:
        koc.parent = None
        koc.tree_id = allocate_tree_ids(1)[0]
        koc.lft, koc.rght, koc.depth = 1, 2, 0
        plan.roots[koc.pk] = koc.tree_id
    else:
        new_parent = Koc.objects.get(pk=new_parent.pk)
        koc.parent = new_parent
        for name, value in placeholder_fields(new_parent).items():
            setattr(koc, name, value)
        roots = roots_of([new_parent.pk])
        if new_parent.pk in roots:
            koc.tree_id = roots[new_parent.pk][1]
    _save_tree_fields(koc, ["parent", *MPTT_FIELDS])
    KocParentHistory.objects.filter(koc=koc, valid_to__isnull=True).update(valid_to=now)
    _open_parent_row(koc=koc, parent=new_parent, at=now, by=by, reason=reason.strip())
    _placed(plan, [i for i in (koc.pk, old_parent_id) if i is not None])
    # Both teams changed: the new one may reach a level, the old one may fall below its own.
    if new_parent is not None:
        evaluate_tiers_on_commit(new_parent.pk)
    if old_parent_id is not None:
        evaluate_tiers_on_commit(old_parent_id)
    return koc


# --- renumbering -----------------------------------------------------------------------------------


def schedule_refresh() -> None:
    """Send the refresher once the transaction commits, at most once per few seconds (the cache
    key is cleared when a pass starts; beat sends it every minute whatever happens)."""
    from django.core.cache import cache

    from apps.core.deferred import send

    from ..tasks import refresh_team_trees as task

    def send_once():
        try:
            if not cache.add(REFRESH_QUEUED_KEY, 1, timeout=120):
                return
        except Exception:  # the cache is down: send anyway, the lock keeps one refresher
            logger.exception("cache unavailable; sending the tree refresher without de-duplication")
        send(task)

    transaction.on_commit(send_once)


REFRESH_QUEUED_KEY = "kocs:tree-refresh-queued"


def _read_tree(root_id: int, *, whole_table: bool):
    """The nodes below `root_id` through the parent pointers, ordered for `number_forest`:
    (ids, parents, tree_ids, lfts, rghts, depths) as arrays. `whole_table`: every node instead (a
    sequential scan, far cheaper than the walk when the tree is most of the table); the caller
    keeps those under `root_id`."""
    walk = """
        WITH RECURSIVE sub(id, steps) AS (
            SELECT id, 0 FROM kocs_koc WHERE id = %s
            UNION ALL
            SELECT k.id, sub.steps + 1 FROM kocs_koc k JOIN sub ON k.parent_id = sub.id
            WHERE sub.steps < %s
        )
        SELECT k.id, COALESCE(k.parent_id, 0), k.tree_id, k.lft, k.rght, k.depth
        FROM sub JOIN kocs_koc k ON k.id = sub.id
        ORDER BY COALESCE(k.parent_id, 0), k.lft, k.id
    """
    scan = """
        SELECT id, COALESCE(parent_id, 0), tree_id, lft, rght, depth FROM kocs_koc
        ORDER BY COALESCE(parent_id, 0), lft, id
    """
    columns = tuple(array("q") for _ in range(6))
    # A server-side cursor on PostgreSQL lives in a transaction.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(scan if whole_table else walk, [] if whole_table else [root_id, MAX_DEPTH])
        while True:
            chunk = cursor.fetchmany(20_000)
            if not chunk:
                break
            for row in chunk:
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
    return columns


def _most_of_the_table(root_id: int) -> bool:
    """Whether the tree under `root_id` (its size at the last renumbering) is over a third of the
    table's rows (PostgreSQL's estimate) and large: then scanning the table beats walking the tree."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k.rght / 2, c.reltuples FROM kocs_koc k, pg_class c"
            " WHERE k.id = %s AND c.relname = 'kocs_koc'",
            [root_id],
        )
        row = cursor.fetchone()
    return bool(row) and row[0] > 50_000 and row[0] * 3 > row[1]


def write_numbering(changes, *, batched: bool) -> int:
    """Write (id, parent id, tree_id, lft, rght, depth) rows, each only if the row still has that
    parent (a node moved meanwhile keeps its move's values: its change is listed for the next pass).
    `batched`: one transaction per batch, so no row stays locked for long. Returns rows written."""
    written = 0
    # In id order: neighbouring rows share heap and index pages (the walk's order scatters them).
    order = sorted(range(len(changes[0])), key=changes[0].__getitem__)
    for start in range(0, len(order), WRITE_BATCH):
        rows = order[start : start + WRITE_BATCH]
        part = [[column[i] for i in rows] for column in changes]
        with transaction.atomic() if batched else _nothing(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    """
                        UPDATE kocs_koc AS k
                        SET tree_id = v.tree_id, lft = v.lft, rght = v.rght, depth = v.depth
                        FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::int[], %s::int[], %s::int[])
                            AS v(id, parent_id, tree_id, lft, rght, depth)
                        WHERE k.id = v.id AND COALESCE(k.parent_id, 0) = v.parent_id
                        """,
                    part,
                )
                written += cursor.rowcount
            else:
                cursor.executemany(
                    "UPDATE kocs_koc SET tree_id = %s, lft = %s, rght = %s, depth = %s"
                    " WHERE id = %s AND COALESCE(parent_id, 0) = %s",
                    [(t, lf, r, d, i, p) for i, p, t, lf, r, d in zip(*part, strict=True)],
                )
                written += len(part[0])
    return written


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def renumber(ids, parents, tree_ids, lfts, rghts, depths, *, tree_id_of_root, only_root=None) -> tuple:
    """Number the forest and return the rows whose stored values differ, as column arrays
    (id, parent, tree_id, lft, rght, depth), plus the numbering."""
    numbering = number_forest(ids, parents)
    out = tuple(array("q") for _ in range(6))
    roots = numbering.root
    for i in range(len(ids)):
        lft = numbering.lft[i]
        if lft == 0 or (only_root is not None and roots[i] != only_root):
            continue  # unreached (reported by the check), or another tree read along
        tree_id = tree_id_of_root(numbering.root[i])
        rght, depth = numbering.rght[i], numbering.depth[i]
        if lft != lfts[i] or rght != rghts[i] or depth != depths[i] or tree_id != tree_ids[i]:
            for column, value in zip(out, (ids[i], parents[i], tree_id, lft, rght, depth), strict=True):
                column.append(value)
    return out, numbering


def _refresh_tree(root_id: int, tree_id: int, *, batched: bool) -> tuple[int, int]:
    """Renumber the tree under `root_id` (whose tree id is `tree_id`) from the parent pointers.

    The caller holds the tree's lock. The listed changes are read before the nodes, and those whose
    node the walk reached are deleted afterwards: a change committed meanwhile stays listed.
    Returns (rows rewritten, listed changes covered).
    """
    began = time.perf_counter()
    pending = list(KocTreeChange.objects.values_list("pk", "koc_id"))
    whole_table = _most_of_the_table(root_id)
    ids, parents, tree_ids, lfts, rghts, depths = _read_tree(root_id, whole_table=whole_table)
    read = time.perf_counter()
    only_root = None
    if whole_table:
        only_root = next(i for i in range(len(ids)) if ids[i] == root_id)  # the roots come first
    changes, numbering = renumber(
        ids, parents, tree_ids, lfts, rghts, depths, tree_id_of_root=lambda _r: tree_id, only_root=only_root
    )
    numbered = time.perf_counter()
    written = write_numbering(changes, batched=batched)
    if len(ids) > 10_000:
        logger.info(
            "renumbered tree %s: %d nodes read in %.1f s, numbered in %.1f s, %d rows written in %.1f s",
            tree_id,
            len(ids),
            read - began,
            numbered - read,
            written,
            time.perf_counter() - numbered,
        )
    done = []
    if pending:
        wanted = {koc_id for _pk, koc_id in pending}
        reached = {
            ids[i]
            for i in range(len(ids))
            if ids[i] in wanted and (only_root is None or numbering.root[i] == only_root)
        }
        done = [pk for pk, koc_id in pending if koc_id in reached]
        for start in range(0, len(done), WRITE_BATCH):
            KocTreeChange.objects.filter(pk__in=done[start : start + WRITE_BATCH]).delete()
    return written, len(done)


def renumber_trees(roots, *, batched: bool) -> dict[str, int]:
    """Renumber the trees under `roots` ((root id, tree id) pairs), each under its lock: held on a
    side connection while the batches commit one by one (`batched`, outside any transaction), or
    a lock of the caller's transaction."""
    stats = {"trees": 0, "rows": 0, "changes": 0}
    # Inside a transaction the caller may already hold a tree's lock (it placed a node): a lock on
    # a side connection would wait for it forever. Its batches could not commit anyway.
    batched = batched and not connection.in_atomic_block
    for root_id, tree_id in sorted(set(roots), key=lambda r: r[1]):
        if batched:
            with tree_lock_held(tree_id):
                written, covered = _refresh_tree(root_id, tree_id, batched=True)
        else:
            lock_trees([tree_id])
            written, covered = _refresh_tree(root_id, tree_id, batched=False)
        stats["trees"] += 1
        stats["rows"] += written
        stats["changes"] += covered
    return stats


def refresh_team_trees(*, passes: int = 100) -> dict[str, int]:
    """The refresher: renumber every tree with listed changes, one tree at a time, until none are
    left (or `passes` ran). One process at a time (a lock); another caller returns at once.

    Each tree is renumbered under its lock, its rows written in batches of their own transactions.
    Returns {"trees": renumbered trees, "rows": rows rewritten, "changes": changes covered}.
    """
    from django.core.cache import cache

    stats = {"trees": 0, "rows": 0, "changes": 0}
    # Outside a transaction (the task) each batch commits on its own; inside one (a test, a
    # command that wants it all-or-nothing) everything lands with the caller's commit.
    batched = not connection.in_atomic_block
    with refresher_lock() as granted:
        if not granted:
            return stats
        for _ in range(passes):
            with contextlib.suppress(Exception):  # de-duplication only
                cache.delete(REFRESH_QUEUED_KEY)
            pending = list(KocTreeChange.objects.values_list("pk", "koc_id"))
            if not pending:
                break
            roots = roots_of({koc_id for _pk, koc_id in pending})
            gone = [pk for pk, koc_id in pending if koc_id not in roots]
            if gone:  # nodes deleted since: nothing to renumber for them
                KocTreeChange.objects.filter(pk__in=gone).delete()
            done = renumber_trees(roots.values(), batched=batched)
            for key, value in done.items():
                stats[key] += value
    return stats


def distinct_root_tree_ids() -> list[tuple[int, int]]:
    """(root id, tree id) of every root, giving a root that shares its tree id with an older root
    (a damaged tree) a tree of its own first."""
    roots = list(
        Koc.objects.filter(parent__isnull=True).order_by("tree_id", "pk").values_list("pk", "tree_id")
    )
    out, seen = [], set()
    for root_id, tree_id in roots:
        if tree_id in seen:
            tree_id = allocate_tree_ids(1)[0]
            Koc.objects.filter(pk=root_id).update(tree_id=tree_id)
        seen.add(tree_id)
        out.append((root_id, tree_id))
    return out


@transaction.atomic
def team_tree_rebuild() -> dict[str, int]:
    """Renumber every tree from the parent pointers now, in this transaction (small deployments,
    tests). `check_team_tree --fix` renumbers only the damaged trees, in batches."""
    return renumber_trees(distinct_root_tree_ids(), batched=False)
