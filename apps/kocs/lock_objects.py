"""Locks of the KOC app, taken in this order when a flow needs more than one: tree, then rows.

django-mptt rewrites lft/rght of many rows on every insert or move and computes the new values from
rows it read first; two concurrent structural writes therefore corrupt the nested set (a known
django-mptt failure). Every structural write takes one transaction-scoped advisory lock as its first
statement, so such writes run one at a time and each sees the other's committed tree.
"""

from __future__ import annotations

from django.db import connection

from .models import Koc

# pg_advisory_xact_lock takes a bigint; the constant spells "KOCTREE" so it is recognisable in pg_locks.
TEAM_TREE_LOCK_KEY = 0x4B4F4354524545


def lock_team_tree() -> None:
    """Serialise structural writes of the team tree until the current transaction ends.

    On PostgreSQL an advisory transaction lock. On SQLite the database is configured with IMMEDIATE
    transactions, so the write lock is already held from BEGIN and writers are serialised.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("lock_team_tree() must run inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TEAM_TREE_LOCK_KEY])


def lock_koc(*, koc_id: int) -> Koc:
    """Lock one KOC row (level changes) and return it fresh."""
    return Koc.objects.select_for_update(of=("self",)).select_related("level").get(pk=koc_id)
