"""Locks of the KOC app, taken in this order when a flow needs more than one:
the move lock, then tree locks (ascending tree id), then rows.

No lock spans the whole platform on the write path. The parent pointers are the tree's truth and a
placement only writes its own row, so inserts in different teams never wait for one another; the
nested set is renumbered per tree (services/tree.py) under that tree's lock. Moves alone share one
lock: two concurrent moves could otherwise make a loop (A under B while B goes under A).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections

from .models import Koc

# pg_advisory_xact_lock takes a bigint; the constant spells "KOCTREE" so it is recognisable in pg_locks.
TEAM_TREE_LOCK_KEY = 0x4B4F4354524545
# Moves of subtrees, one at a time ("KOCMOVE").
TREE_MOVE_LOCK_KEY = 0x4B4F434D4F5645
# The one refresher renumbering trees at a time ("KOCRFSH").
TREE_REFRESH_LOCK_KEY = 0x4B4F4352465348
# Per-tree locks: pg_advisory_(xact_)lock(class, tree_id) with this class ("KOCT").
TREE_LOCK_CLASS = 0x4B4F4354


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _require_atomic(name: str) -> None:
    if not connection.in_atomic_block:
        raise RuntimeError(f"{name}() must run inside transaction.atomic()")


def lock_team_tree() -> None:
    """The whole forest, until the current transaction ends: for bulk builders (the scale demo),
    so two builds do not interleave. Ordinary structural writes do not take it.

    On SQLite the database is configured with IMMEDIATE transactions, so the write lock is already
    held from BEGIN and writers are serialised.
    """
    _require_atomic("lock_team_tree")
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TEAM_TREE_LOCK_KEY])


def lock_tree_moves() -> None:
    """Serialise subtree moves until the transaction ends (a loop needs two concurrent moves)."""
    _require_atomic("lock_tree_moves")
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_MOVE_LOCK_KEY])


def lock_trees(tree_ids) -> None:
    """Lock trees for renumbering until the transaction ends, in ascending order (no deadlock)."""
    _require_atomic("lock_trees")
    if _postgres():
        with connection.cursor() as cursor:
            for tree_id in sorted(set(tree_ids)):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [TREE_LOCK_CLASS, tree_id])


@contextmanager
def _held_on_side_connection(sql: str, params: list) -> Iterator[bool]:
    """Run a lock function in a transaction of a second connection and hold it until the block
    ends (True when it was granted). The refresher commits its batches on its own connection as it
    goes; the lock must outlive them, and a transaction-scoped lock does (no session state: safe
    behind PgBouncer in transaction mode). Always granted on SQLite (writers are serialised)."""
    if not _postgres():
        yield True
        return
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        side.connect()
        side.set_autocommit(False)
        with side.cursor() as cursor:
            cursor.execute(sql, params)
            granted = cursor.fetchone()[0]
        yield granted is not False
    finally:
        try:
            side.rollback()
        finally:
            side.close()


def tree_lock_held(tree_id: int):
    """The tree's lock for a renumbering whose batches commit one by one (the refresher)."""
    return _held_on_side_connection("SELECT pg_advisory_xact_lock(%s, %s)", [TREE_LOCK_CLASS, tree_id])


def refresher_lock():
    """Become the one refresher for the block; yields False when another process is it."""
    return _held_on_side_connection("SELECT pg_try_advisory_xact_lock(%s)", [TREE_REFRESH_LOCK_KEY])


def lock_koc(*, koc_id: int) -> Koc:
    """Lock one KOC row (level changes) and return it fresh."""
    return Koc.objects.select_for_update(of=("self",)).select_related("level").get(pk=koc_id)
