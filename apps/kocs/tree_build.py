"""Numbering the team tree's nested set from parent pointers, in flat arrays (no ORM objects).

The parent pointers (`Koc.parent_id`, with `KocParentHistory` for the past) are the tree's truth;
the nested set (tree_id, lft, rght, depth) that django-mptt reads is derived from them here. Used by
the refresher (`services/tree.py`), by `check_team_tree`, and by bulk builders (the scale demo, the
benchmark, tests): `number_forest` computes the four fields for any set of nodes given as parallel
arrays, in about a second per million nodes and 8 bytes per node per array.

Siblings are numbered in the order of their current `lft`, then id: a valid nested set is therefore
reproduced exactly (so comparing stored values with these finds every damaged row), and a node
placed since the last numbering (its `lft` is its new parent's `rght`, see `placeholder_fields`)
becomes its parent's last child, as django-mptt's own "last-child" insert would make it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection


@dataclass
class Numbering:
    """The result of `number_forest`, parallel to its input (index i is the i-th input row).

    lft == 0 marks a node no root reaches (its parent is missing, or the parent pointers loop).
    `root[i]` is the index of the root of node i's tree (-1 when unreached).
    """

    lft: array
    rght: array
    depth: array
    root: array


def number_forest(ids: array, parents: array) -> Numbering:
    """Number every tree of the forest given as `ids[i]`'s parent `parents[i]` (0: a root).

    The rows must be ordered by (parent, current lft, id) with the roots (parent 0) first: then each
    node's children are one contiguous run, in sibling order. SQL gives that order for free
    (`ORDER BY COALESCE(parent_id, 0), lft, id`).
    """
    n = len(ids)
    top = max(ids) if n else 0
    # id -> row index: a dense array when the ids are (the usual autoincrement keys), else a dict.
    if top <= 4 * n + 1024:
        index: array | dict = array("q", [-1]) * (top + 1)
    else:
        index = {}
    for i in range(n):
        index[ids[i]] = i
    first_child = array("q", [-1]) * n
    child_count = array("q", [0]) * n
    roots = []
    dense = isinstance(index, array)
    for i in range(n):
        p = parents[i]
        if p == 0:
            roots.append(i)
            continue
        j = (index[p] if p <= top else -1) if dense else index.get(p, -1)
        if j < 0:
            continue  # parent missing: unreached
        if first_child[j] < 0:
            first_child[j] = i
        elif first_child[j] + child_count[j] != i:
            raise ValueError("rows are not ordered by parent: children must be contiguous")
        child_count[j] += 1
    del index

    lft = array("q", [0]) * n
    rght = array("q", [0]) * n
    depth = array("q", [0]) * n
    root = array("q", [-1]) * n
    next_child = array("q", [0]) * n
    for r in roots:
        counter = 1
        lft[r] = 1
        root[r] = r
        stack = [r]
        while stack:
            i = stack[-1]
            k = next_child[i]
            if k < child_count[i]:
                next_child[i] = k + 1
                child = first_child[i] + k
                counter += 1
                lft[child] = counter
                depth[child] = len(stack)
                root[child] = r
                stack.append(child)
            else:
                counter += 1
                rght[i] = counter
                stack.pop()
    return Numbering(lft=lft, rght=rght, depth=depth, root=root)


def placeholder_fields(parent) -> dict[str, int]:
    """Nested-set values for a node just placed under `parent`, before the tree is renumbered.

    Like django-mptt inside `delay_mptt_updates()`: no other row is shifted. lft is the parent's
    rght, which no other node uses as lft, so lft-range reads of the parent and its ancestors
    already count the node; the refresher gives it its final place (the parent's last child).
    """
    if parent is None:
        return {"lft": 1, "rght": 2, "depth": 0}
    return {"tree_id": parent.tree_id, "lft": parent.rght, "rght": parent.rght + 1, "depth": parent.depth + 1}


# --- tree ids ----------------------------------------------------------------------------------------

TREE_ID_SEQUENCE = "kocs_koc_tree_id_seq"


def allocate_tree_ids(count: int = 1) -> list[int]:
    """`count` tree ids no tree uses, without any lock on PostgreSQL (a sequence).

    New roots (an applicant, a node moved to the top) and bulk builders take their ids here. The
    sequence is moved past any id taken some other way (django-mptt's own max + 1) when it meets one.
    On SQLite writers are serialised (IMMEDIATE transactions), so max + 1 is safe there.
    """
    from .models import Koc

    if count <= 0:
        return []
    if connection.vendor != "postgresql":
        top = Koc.objects.order_by("-tree_id").values_list("tree_id", flat=True).first() or 0
        return list(range(top + 1, top + 1 + count))
    with connection.cursor() as cursor:
        for _ in range(5):
            cursor.execute(
                "SELECT nextval(%s), (SELECT max(tree_id) FROM kocs_koc) FROM generate_series(1, %s)",
                [TREE_ID_SEQUENCE, count],
            )
            rows = cursor.fetchall()
            ids, top = [row[0] for row in rows], rows[0][1] or 0
            if ids[0] > top:
                return ids
            cursor.execute("SELECT setval(%s, %s)", [TREE_ID_SEQUENCE, top])
    raise RuntimeError("could not allocate a tree id")


# --- bulk building -----------------------------------------------------------------------------------


def nested_set_for(nodes: Iterable[tuple[int, int | None]]) -> dict[int, tuple[int, int, int, int]]:
    """{id: (tree_id placeholder root id, lft, rght, depth)} for (id, parent id) pairs of whole trees.

    For bulk builders that know their nodes up front: number them, then create the rows with these
    values (the first element is the id of the node's root: map it to a tree id from
    `allocate_tree_ids`). Siblings are numbered in id order.
    """
    pairs = sorted(((p or 0), i) for i, p in nodes)
    ids = array("q", (i for _p, i in pairs))
    parents = array("q", (p for p, _i in pairs))
    numbering = number_forest(ids, parents)
    out = {}
    for k in range(len(ids)):
        if numbering.lft[k] == 0:
            raise ValueError(f"node {ids[k]} is not reached from a root")
        out[ids[k]] = (ids[numbering.root[k]], numbering.lft[k], numbering.rght[k], numbering.depth[k])
    return out


def _allocate_koc_ids(count: int) -> list[int]:
    from .models import Koc

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('kocs_koc', 'id')) FROM generate_series(1, %s)",
                [count],
            )
            return [row[0] for row in cursor.fetchall()]
    top = Koc.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return list(range(top + 1, top + 1 + count))


def build_forest(
    parents: list[int | None],
    roles: list[str],
    *,
    at,
    reason: str = "bulk",
) -> list[int]:
    """Insert whole new trees of approved nodes in bulk, numbered from the start: the scale demo,
    the benchmark and tests that need 100k nodes in seconds. Returns the new ids.

    `parents[i]` is the index (in these lists) of node i's parent, smaller than i, or None for a
    root of a new tree; `roles[i]` its role. Each node gets an open parent-history row from `at`
    and the invite code "Z0<id>" ("0" is not in the invite alphabet: no clash with drawn codes).
    No user, no identity: bulk nodes are organisations or anonymous placeholders. On PostgreSQL the
    rows go in with COPY (about 100k rows a second), elsewhere with bulk_create. The caller runs
    it in a transaction.
    """
    from .models import Koc, KocParentHistory

    n = len(parents)
    if n == 0:
        return []
    ids = _allocate_koc_ids(n)
    pairs = [(ids[i], ids[p] if p is not None else None) for i, p in enumerate(parents)]
    numbered = nested_set_for(pairs)
    root_ids = sorted({numbered[i][0] for i in ids})
    tree_of_root = dict(zip(root_ids, allocate_tree_ids(len(root_ids)), strict=True))
    Status = Koc.Status
    template = Koc(
        role=Koc.Role.KOC,
        status=Status.APPROVED,
        invite_code="",
        applied_at=at,
        reviewed_at=at,
        approved_at=at,
        created_at=at,
        tree_id=0,
        lft=0,
        rght=0,
        depth=0,
    )
    fields = [f for f in Koc._meta.concrete_fields if not f.primary_key]
    constants = {f.column: f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields}
    columns = ["id", *constants]
    varying = {"parent_id", "role", "invite_code", "tree_id", "lft", "rght", "depth"}

    def row(i: int) -> list:
        pk, parent = pairs[i]
        root, lft, rght, depth = numbered[pk]
        values = {
            "parent_id": parent,
            "role": roles[i],
            "invite_code": f"Z0{pk}",
            "tree_id": tree_of_root[root],
            "lft": lft,
            "rght": rght,
            "depth": depth,
        }
        return [pk, *(values[c] if c in varying else constants[c] for c in constants)]

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY kocs_koc ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row(row(i))
            history = "COPY kocs_kocparenthistory (koc_id, parent_id, valid_from, reason) FROM STDIN"
            with raw.copy(history) as copy:
                for pk, parent in pairs:
                    copy.write_row((pk, parent, at, reason))
    else:
        objs = []
        for i in range(n):
            values = dict(zip(columns, row(i), strict=True))
            obj = Koc(pk=values.pop("id"))
            for f in fields:
                value = values[f.column] if f.column in varying else getattr(template, f.attname)
                setattr(obj, f.attname, value)
            objs.append(obj)
        Koc.objects.bulk_create(objs, batch_size=2_000)
        KocParentHistory.objects.bulk_create(
            [KocParentHistory(koc_id=k, parent_id=p, valid_from=at, reason=reason) for k, p in pairs],
            batch_size=2_000,
        )
    return ids


def random_team_shape(
    size: int, *, rng, branches: int = 1, agencies_per_branch: int = 10, leaders_per_agency: int = 10
) -> tuple[list[int | None], list[str]]:
    """(parents, roles) for `build_forest`: branches, their agencies, their team leaders, then KOCs
    each under a random earlier leader or KOC (a random recursive tree: depth about ln(size))."""
    from .models import Koc

    Role = Koc.Role
    parents: list[int | None] = []
    roles: list[str] = []
    for _ in range(branches):
        parents.append(None)
        roles.append(Role.BRANCH)
    for b in range(branches):
        for _ in range(agencies_per_branch):
            parents.append(b)
            roles.append(Role.AGENCY)
    agencies = range(branches, len(parents))
    for a in agencies:
        for _ in range(leaders_per_agency):
            parents.append(a)
            roles.append(Role.LEADER)
    first_individual = agencies.stop
    while len(parents) < size:
        parents.append(rng.randrange(first_individual, len(parents)))
        roles.append(Role.KOC)
    return parents, roles
