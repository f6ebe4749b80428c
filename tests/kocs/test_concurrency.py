"""Concurrent structural writes on real PostgreSQL: the advisory lock keeps the nested set valid."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection

from apps.kocs import services
from apps.kocs.models import Koc, KocParentHistory
from tests.accounts.factories import UserFactory
from tests.kocs.factories import make_agency, make_branch, make_individual, make_leader

THREADS = 100
# PostgreSQL allows 100 connections in all, shared with other test runs: at most this many threads
# hold one at a time (still far more concurrent writers than the tree survives without its lock).
CONNECTIONS = 16


def assert_nested_set_is_valid() -> None:
    """The invariants, checked directly against the rows (independently of check_team_tree)."""
    nodes = list(Koc.objects.values("pk", "parent_id", "tree_id", "lft", "rght", "depth"))
    by_pk = {n["pk"]: n for n in nodes}
    roots_per_tree = Counter(n["tree_id"] for n in nodes if n["parent_id"] is None)
    trees = {n["tree_id"] for n in nodes}
    assert all(roots_per_tree[t] == 1 for t in trees), roots_per_tree
    for node in nodes:
        assert node["lft"] < node["rght"]
        descendants = [
            m for m in nodes if m["tree_id"] == node["tree_id"] and node["lft"] < m["lft"] < node["rght"]
        ]
        assert len(descendants) == (node["rght"] - node["lft"] - 1) // 2
        assert (node["rght"] - node["lft"] - 1) % 2 == 0
        if node["parent_id"]:
            parent = by_pk[node["parent_id"]]
            assert parent["tree_id"] == node["tree_id"]
            assert parent["lft"] < node["lft"] and node["rght"] < parent["rght"]
            assert node["depth"] == parent["depth"] + 1
    for tree in trees:
        edges = sorted(v for n in nodes if n["tree_id"] == tree for v in (n["lft"], n["rght"]))
        assert edges == list(range(1, len(edges) + 1))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_100_concurrent_koc_creations_under_random_parents_keep_the_tree_valid():
    # given: two teams to grow, and a user for each thread
    leader = make_leader()
    second_leader = make_leader(agency=make_agency(branch=make_branch()))
    parents = [leader, second_leader, make_individual(parent=leader)]
    users = [UserFactory() for _ in range(THREADS)]
    rng = random.Random(2026)
    guard = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    connections = threading.BoundedSemaphore(CONNECTIONS)

    def work(index: int) -> None:
        barrier.wait(timeout=30)
        with connections:
            try:
                with guard:
                    parent = rng.choice(parents)
                if index % 10 == 0:
                    # now and then a new root (an applicant): tree ids must not collide either
                    services.koc_apply(user=users[index], real_name="并发")
                    return
                koc = services.koc_create(
                    role=Koc.Role.KOC, parent=parent, user=users[index], real_name="并发"
                )
                with guard:
                    parents.append(koc)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

    # when
    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then
    assert errors == []
    assert Koc.objects.filter(user__in=users).count() == THREADS
    call_command("check_team_tree")  # raises CommandError when invalid
    assert_nested_set_is_valid()
    assert Koc.objects.get(pk=leader.pk).team_size + Koc.objects.get(pk=second_leader.pk).team_size == 1 + 90
    assert KocParentHistory.objects.filter(koc__user__in=users).count() == 90
