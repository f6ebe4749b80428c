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
                "SELECT nextval(%s) FROM generate_series(1, %s)",
                [TREE_ID_SEQUENCE, count],
            )
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT max(tree_id) FROM kocs_koc")
            top = cursor.fetchone()[0] or 0
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
