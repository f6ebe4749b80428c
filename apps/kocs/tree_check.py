"""The team tree's health check (`check_team_tree`), in flat arrays: a million nodes in seconds and
about 150 MB.

The parent pointers are the truth; the check renumbers them (`tree_build.number_forest`) and
compares each node's stored nested set with the result. Siblings are numbered in their stored lft
order, so a valid nested set is reproduced exactly and any difference is damage. A tree with
changes awaiting the refresher (`KocTreeChange`) is expected to differ: it is counted as pending,
not reported. The open parent-history rows must agree with the parent pointers for every node.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction

from .models import Koc, KocTreeChange
from .tree_build import number_forest

# Beyond this many, problems are counted, not listed (a wholly damaged tree has a million).
MAX_LISTED = 1_000
STATUS_CODES = {s.value: i for i, s in enumerate(Koc.Status)}


@dataclass
class TreeReport:
    problems: list[str] = field(default_factory=list)
    unlisted: int = 0
    # (root id, tree id) of every tree whose nested set is damaged: what --fix renumbers.
    damaged_roots: set[tuple[int, int]] = field(default_factory=set)
    pending_trees: int = 0
    pending_changes: int = 0
    nodes: int = 0

    def add(self, message: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(message)
        else:
            self.unlisted += 1

    @property
    def all_problems(self) -> list[str]:
        more = [f"... and {self.unlisted} more problem(s)"] if self.unlisted else []
        return self.problems + more


def _read_nodes():
    columns = tuple(array("q") for _ in range(7))
    ids, parents, tree_ids, lfts, rghts, depths, statuses = columns
    sql = (
        "SELECT id, COALESCE(parent_id, 0), tree_id, lft, rght, depth, status FROM kocs_koc"
        " ORDER BY COALESCE(parent_id, 0), lft, id"
    )
    codes = STATUS_CODES
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        while True:
            chunk = cursor.fetchmany(20_000)
            if not chunk:
                break
            for i, p, t, lf, r, d, st in chunk:
                ids.append(i)
                parents.append(p)
                tree_ids.append(t)
                lfts.append(lf)
                rghts.append(r)
                depths.append(d)
                statuses.append(codes.get(st, -1))
    return columns


def _open_history():
    """(koc ids, parent ids) of the open parent-history rows, in two arrays."""
    kocs, parents = array("q"), array("q")
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT koc_id, COALESCE(parent_id, 0) FROM kocs_kocparenthistory WHERE valid_to IS NULL"
        )
        while True:
            chunk = cursor.fetchmany(20_000)
            if not chunk:
                break
            for k, p in chunk:
                kocs.append(k)
                parents.append(p)
    return kocs, parents


def _pending_roots() -> tuple[set[int], int]:
    from .services.tree import roots_of

    changed = list(KocTreeChange.objects.values_list("koc_id", flat=True))
    return {root for root, _tree in roots_of(set(changed)).values()}, len(changed)


def team_tree_report() -> TreeReport:
    """Check the whole forest in one snapshot (REPEATABLE READ on PostgreSQL when it can)."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _report()
    with transaction.atomic():
        return _report()


def _report() -> TreeReport:
    report = TreeReport()
    ids, parents, tree_ids, lfts, rghts, depths, statuses = _read_nodes()
    n = report.nodes = len(ids)
    numbering = number_forest(ids, parents)
    pending_roots, report.pending_changes = _pending_roots()
    top = max(ids) if n else 0
    index = array("q", [-1]) * (top + 1) if top <= 4 * n + 1024 else {}
    for i in range(n):
        index[ids[i]] = i

    # Trees awaiting renumbering: those of the pending roots, by the pointers and by stored tree_id.
    pending_tree_ids = set()
    roots_by_tree: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        if parents[i] == 0:
            roots_by_tree[tree_ids[i]].append(i)
            if ids[i] in pending_roots:
                pending_tree_ids.add(tree_ids[i])
    report.pending_trees = len(pending_tree_ids)
    for tree_id, roots in roots_by_tree.items():
        if len(roots) != 1:
            report.add(f"tree {tree_id}: {len(roots)} roots {sorted(ids[r] for r in roots)} (expected 1)")
            for r in roots:
                report.damaged_roots.add((ids[r], tree_id))

    lft_new, rght_new, depth_new, root_of = numbering.lft, numbering.rght, numbering.depth, numbering.root
    for i in range(n):
        pk, parent_id = ids[i], parents[i]
        if lft_new[i] == 0:
            report.add(f"node {pk}: not reached from any root (parent {parent_id} missing or in a loop)")
            continue
        root = root_of[i]
        tree_id, lft, rght, depth = tree_ids[i], lfts[i], rghts[i], depths[i]
        expected_tree = tree_ids[root]
        if lft == lft_new[i] and rght == rght_new[i] and depth == depth_new[i] and tree_id == expected_tree:
            continue
        if tree_id in pending_tree_ids or expected_tree in pending_tree_ids:
            continue  # awaiting the refresher, not damage
        report.damaged_roots.add((ids[root], expected_tree))
        before = report.unlisted + len(report.problems)
        if lft >= rght:
            report.add(f"node {pk}: lft {lft} >= rght {rght}")
        size = (rght_new[i] - lft_new[i] - 1) // 2
        if rght - lft - 1 != 2 * size:
            report.add(
                f"node {pk}: (rght - lft - 1) / 2 = {(rght - lft - 1) / 2} but it has {size} descendants"
            )
        if parent_id == 0:
            if depth != 0:
                report.add(f"node {pk}: a root at depth {depth}")
        else:
            j = index[parent_id]  # it exists: the node was reached through it
            if tree_ids[j] != tree_id:
                report.add(f"node {pk}: tree {tree_id} but its parent {parent_id} is in tree {tree_ids[j]}")
            elif not (lfts[j] < lft and rght < rghts[j]):
                report.add(
                    f"node {pk}: [{lft}, {rght}] not inside its parent {parent_id} [{lfts[j]}, {rghts[j]}]"
                )
            if depth != depths[j] + 1:
                report.add(f"node {pk}: depth {depth} but its parent {parent_id} is at depth {depths[j]}")
        if report.unlisted + len(report.problems) == before:
            report.add(
                f"node {pk}: nested set (tree {tree_id}, {lft}..{rght}, depth {depth}) differs from its"
                f" parent pointers' (tree {expected_tree}, {lft_new[i]}..{rght_new[i]}, depth {depth_new[i]})"
            )
    del lft_new, rght_new, depth_new, root_of, numbering

    # The open parent history agrees with the pointers: one open row per placed node.
    history_kocs, history_parents = _open_history()
    open_parent = array("q", [0]) * n
    open_count = array("q", [0]) * n
    extra: dict[int, list[int]] = defaultdict(list)
    for k, p in zip(history_kocs, history_parents, strict=True):
        i = index.get(k, -1) if isinstance(index, dict) else (index[k] if k <= top else -1)
        if i < 0:
            continue
        if open_count[i]:
            extra[i].append(p)
        else:
            open_parent[i] = p
        open_count[i] += 1
    del history_kocs, history_parents
    approved = STATUS_CODES[Koc.Status.APPROVED]
    for i in range(n):
        count = open_count[i]
        if count == 0 and statuses[i] != approved:
            continue
        if count == 1 and open_parent[i] == parents[i]:
            continue
        current = ([open_parent[i]] if count else []) + extra.get(i, [])
        shown = [p or None for p in current]
        report.add(f"node {ids[i]}: parent is {parents[i] or None} but the open parent history says {shown}")
    return report


def team_tree_problems() -> list[str]:
    return team_tree_report().all_problems
