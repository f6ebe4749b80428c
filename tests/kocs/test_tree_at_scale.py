"""The team tree at 100k nodes on real PostgreSQL, under concurrent inserts and moves.

Writers (threads with their own connections) each own one leader's team and apply + approve new
KOCs into it and move subtrees within it; readers check teams nobody writes to; the refresher
renumbers the nested set meanwhile. After every write, from the writer's own connection, the
uplines a commission is paid along (now and as of before a move) and the team figures a tier is
decided on must be exact. At the end, once the refresher has drained, the nested set must be
valid and agree with the writers' record of the tree.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import User
from apps.kocs import selectors, services
from apps.kocs.models import Koc, KocSale, KocTreeChange
from apps.kocs.services.tree import refresh_team_trees
from apps.kocs.tree_build import build_forest, random_team_shape

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NODES = 100_000
WRITERS = 6
OPS_PER_WRITER = 30
READERS = 2


class Model:
    """The writers' and readers' own record of the tree: parent pointers and sales."""

    def __init__(self, parent: dict[int, int | None], role: dict[int, str]):
        self.parent = parent
        self.role = role
        self.sales: dict[int, int] = defaultdict(int)
        self.children: dict[int, set[int]] = defaultdict(set)
        for node, p in parent.items():
            if p is not None:
                self.children[p].add(node)

    def ancestors(self, node: int) -> list[int]:
        out, p = [], self.parent[node]
        while p is not None:
            out.append(p)
            p = self.parent[p]
        return out

    def individual_uplines(self, node: int) -> list[int]:
        out = []
        for a in self.ancestors(node):
            if self.role[a] in (Koc.Role.BRANCH, Koc.Role.AGENCY):
                break
            out.append(a)
        return out

    def subtree(self, node: int) -> list[int]:
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(self.children[n])
        return out

    def team_sales(self, node: int) -> int:
        return sum(self.sales.get(n, 0) for n in self.subtree(node))

    def place(self, node: int, parent: int, role: str) -> None:
        self.parent[node] = parent
        self.role[node] = role
        self.children[parent].add(node)

    def move(self, node: int, parent: int) -> None:
        self.children[self.parent[node]].discard(node)
        self.parent[node] = parent
        self.children[parent].add(node)


@pytest.fixture
def forest():
    rng = random.Random(2026)
    parents, roles = random_team_shape(NODES, rng=rng, agencies_per_branch=10, leaders_per_agency=10)
    ids = build_forest(parents, roles, at=timezone.now() - timezone.timedelta(days=30))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE kocs_koc")
        cursor.execute("ANALYZE kocs_kocparenthistory")
    model = Model(
        {ids[i]: (ids[p] if p is not None else None) for i, p in enumerate(parents)},
        {ids[i]: r for i, r in enumerate(roles)},
    )
    # sales on 3,000 random individuals
    now = timezone.now()
    sales = []
    for n in range(3_000):
        koc = ids[rng.randrange(111, NODES)]
        amount = rng.randrange(100, 10_000)
        model.sales[koc] += amount
        sales.append(
            KocSale(koc_id=koc, order_id=50_000_000 + n, paid_fen=amount, amount_fen=amount, completed_at=now)
        )
    KocSale.objects.bulk_create(sales, batch_size=1_000)
    leaders = [ids[i] for i, r in enumerate(roles) if r == Koc.Role.LEADER]
    return model, leaders


def test_uplines_and_team_figures_are_exact_under_concurrent_inserts_and_moves_at_100k(forest):
    model, leaders = forest
    assert KocTreeChange.objects.count() == 0
    rng = random.Random(7)
    # the writers' teams: mid-sized ones (a few hundred to a few thousand nodes)
    sizes = {leader: len(model.subtree(leader)) for leader in leaders}
    candidates = sorted((s, leader) for leader, s in sizes.items() if 50 <= s <= 5_000)
    owned = [leader for _s, leader in candidates[-WRITERS:]]
    stable = [leader for leader in leaders if leader not in owned]
    codes = dict(Koc.objects.filter(pk__in=list(model.parent)).values_list("pk", "invite_code"))
    names = [f"scale-{w}-{i}" for w in range(WRITERS) for i in range(OPS_PER_WRITER)]
    User.objects.bulk_create([User(username=n) for n in names])
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    # the readers' samples: nodes of teams nobody writes to, their uplines and their leader's figures
    samples = []
    for leader in rng.sample(stable, 20):
        team = model.subtree(leader)
        for node in rng.sample(team, min(10, len(team))):
            samples.append(
                (node, model.individual_uplines(node), leader, model.team_sales(leader), len(team) - 1)
            )

    errors: list[str] = []
    guard = threading.Lock()
    writers_done = threading.Event()
    counts = {"inserts": 0, "moves": 0, "reads": 0, "refresh_passes": 0, "refresh_rows": 0}
    sale_ids = iter(range(60_000_000, 70_000_000))

    def fail(message: str) -> None:
        with guard:
            errors.append(message)

    def check(what: str, got, expected) -> None:
        if got != expected:
            fail(f"{what}: got {got!r}, expected {expected!r}")

    def ids(kocs) -> list[int]:
        return [k.pk for k in kocs]

    def writer(w: int) -> None:
        leader = owned[w]
        local = random.Random(100 + w)
        agency = model.parent[leader]
        organisations = [agency, model.parent[agency]]
        try:
            for op in range(OPS_PER_WRITER):
                team = model.subtree(leader)
                if op % 3 == 2 and len(team) > 3:
                    node = local.choice([n for n in team if n != leader])
                    below = set(model.subtree(node))
                    targets = [n for n in team if n not in below and n != model.parent[node]]
                    target = local.choice(targets)
                    old_parent, old_chain = model.parent[node], model.ancestors(node)
                    before = timezone.now()
                    time.sleep(0.002)
                    services.koc_move(koc=Koc(pk=node), new_parent=Koc(pk=target), by=None, reason="并发调整")
                    with guard:
                        model.move(node, target)
                        counts["moves"] += 1
                    now = timezone.now()
                    check(
                        "uplines after a move",
                        ids(selectors.individual_uplines(koc_id=node, on=now, levels=100)),
                        model.individual_uplines(node),
                    )
                    check(
                        "ancestors as of before the move",
                        selectors.ancestor_ids_on(koc_id=node, on=before, depth=64),
                        old_chain,
                    )
                    check(
                        "team sales of the new parent",
                        selectors.team_sales_fen(koc=Koc(pk=target)),
                        model.team_sales(target),
                    )
                    check(
                        "team sales of the old parent",
                        selectors.team_sales_fen(koc=Koc(pk=old_parent)),
                        model.team_sales(old_parent),
                    )
                else:
                    sponsor = local.choice(team)
                    user = users[f"scale-{w}-{op}"]
                    applicant = services.koc_apply(user=user, real_name="并发", invite_code=codes[sponsor])
                    koc = services.koc_approve(koc=applicant, by=None)
                    amount = local.randrange(100, 5_000)
                    KocSale.objects.create(
                        koc_id=koc.pk,
                        order_id=next(sale_ids),
                        paid_fen=amount,
                        amount_fen=amount,
                        completed_at=timezone.now(),
                    )
                    with guard:
                        codes[koc.pk] = koc.invite_code
                        model.place(koc.pk, sponsor, koc.role)
                        model.sales[koc.pk] += amount
                        counts["inserts"] += 1
                    now = timezone.now()
                    check(
                        "uplines of a new KOC",
                        ids(selectors.individual_uplines(koc_id=koc.pk, on=now, levels=100)),
                        model.individual_uplines(koc.pk),
                    )
                    check(
                        "organisations above a new KOC",
                        ids(selectors.organisation_ancestors(koc_id=koc.pk, on=now)),
                        organisations,
                    )
                    check(
                        "team sales of the sponsor",
                        selectors.team_sales_fen(koc=Koc(pk=sponsor)),
                        model.team_sales(sponsor),
                    )
                check(
                    "team sales of the leader",
                    selectors.team_sales_fen(koc=Koc(pk=leader)),
                    model.team_sales(leader),
                )
                check(
                    "team size of the leader",
                    selectors.team_member_count(koc=Koc(pk=leader)),
                    len(model.subtree(leader)) - 1,
                )
        except Exception as exc:  # reported below
            fail(f"writer {w}: {exc!r}")
        finally:
            connection.close()

    def reader(r: int) -> None:
        local = random.Random(200 + r)
        try:
            while not writers_done.is_set():
                node, uplines, leader, sales, size = local.choice(samples)
                now = timezone.now()
                check(
                    "a stable node's uplines",
                    ids(selectors.individual_uplines(koc_id=node, on=now, levels=100)),
                    uplines,
                )
                check("a stable team's sales", selectors.team_sales_fen(koc=Koc(pk=leader)), sales)
                check("a stable team's size", selectors.team_member_count(koc=Koc(pk=leader)), size)
                with guard:
                    counts["reads"] += 1
        except Exception as exc:
            fail(f"reader {r}: {exc!r}")
        finally:
            connection.close()

    def refresher() -> None:
        try:
            while not writers_done.is_set():
                stats = refresh_team_trees(passes=1)
                with guard:
                    counts["refresh_passes"] += 1 if stats["trees"] else 0
                    counts["refresh_rows"] += stats["rows"]
                if not stats["trees"]:
                    time.sleep(0.1)
        except Exception as exc:
            fail(f"refresher: {exc!r}")
        finally:
            connection.close()

    # when
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    others = [threading.Thread(target=reader, args=(r,)) for r in range(READERS)]
    others.append(threading.Thread(target=refresher))
    for thread in writers + others:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    writers_done.set()
    for thread in others:
        thread.join(timeout=300)

    # then: every read during the run was exact
    assert errors == []
    moves = WRITERS * (OPS_PER_WRITER // 3)
    assert counts["inserts"] == WRITERS * OPS_PER_WRITER - moves and counts["moves"] == moves
    assert counts["reads"] > 0
    assert counts["refresh_passes"] > 0 and counts["refresh_rows"] > 0  # renumbering ran meanwhile

    # and once the refresher has drained, the nested set is valid and agrees with the record
    refresh_team_trees()
    assert KocTreeChange.objects.count() == 0
    assert selectors.team_tree_problems() == []
    for leader in owned:
        node = Koc.objects.get(pk=leader)
        team = model.subtree(leader)
        assert node.team_size == len(team) - 1
        assert set(node.get_descendants().values_list("pk", flat=True)) == set(team) - {leader}
    for node in rng.sample(list(model.parent), 200):
        koc = Koc.objects.get(pk=node)
        assert list(koc.get_ancestors(ascending=True).values_list("pk", flat=True)) == model.ancestors(node)
