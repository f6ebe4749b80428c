"""The people: KOC applicants and buyers (users), and the team tree of approved KOCs.

The tree is generated as flat arrays (a million nodes fit), numbered in one depth-first pass
(tree_id, lft, rght, depth: django-mptt's nested set, as `koc_create` would leave it, parents before
children) and inserted in batches with ids chosen up front, so no row object outlives its batch.
Each approved node gets its one open parent-history row from its approval time, as `koc_create`
writes it; `team_tree_problems()` checks the result before the transaction commits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import User
from apps.core.progress import Progress
from apps.kocs.lock_objects import lock_team_tree
from apps.kocs.models import Koc, KocParentHistory, KocProductPick, Level, LevelHistory
from apps.kocs.tree_build import allocate_tree_ids, nested_set_for

from .plan import BATCH, BRANCHES, TEAM_DAYS, Plan, person
from .rows import insert

BRANCH, AGENCY, LEADER, KOC = Koc.Role.BRANCH, Koc.Role.AGENCY, Koc.Role.LEADER, Koc.Role.KOC
MAX_DEPTH = 14
ENTRY_REASON = "达到升级条件 conditions met"  # apps.kocs.services.koc_evaluate_tier's upgrade reason
NO_FIGURES = {"own_sales_fen": 0, "team_sales_fen": 0, "active_direct_kocs": 0}


def next_id(model) -> int:
    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def reset_sequences(*models) -> None:
    """Ids were chosen here: move PostgreSQL's sequences past them (SQLite needs nothing)."""
    if connection.vendor != "postgresql":
        return
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)


@dataclass
class People:
    koc_user0: int  # user id of applicant i is koc_user0 + i
    buyer0: int  # user id of buyer j is buyer0 + j
    buyers: int

    def buyer_id(self, j: int) -> int:
        return self.buyer0 + j


def create_users(plan: Plan, stdout: TextIO) -> People:
    applicants = plan.leaders + plan.kocs + plan.pending
    first = next_id(User)
    people = People(koc_user0=first, buyer0=first + applicants, buyers=plan.buyers)
    total = applicants + plan.buyers
    joined = timezone.now() - timedelta(days=TEAM_DAYS + 1)

    def row(i: int) -> dict:
        kind, n = ("koc", i) if i < applicants else ("buyer", i - applicants)
        name = f"scale-{kind}-{n:07d}"
        return {
            "id": first + i,
            "username": name,
            "openid": name,
            "nickname": person(i),
            "password": "!scale",  # unusable: these people log in through WeChat only
            "date_joined": joined,
        }

    with transaction.atomic(), Progress(total, label="users", stream=stdout) as bar:
        for start in range(0, total, BATCH):
            rows = [row(i) for i in range(start, min(total, start + BATCH))]
            insert(User, rows)
            bar.advance(len(rows))
        reset_sequences(User)
    return people


@dataclass
class Team:
    """Approved nodes as parallel arrays; index i is KOC id `koc0 + i`."""

    koc0: int
    role: list[str] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)  # -1: a root
    approved: list[datetime] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    user: list[int | None] = field(default_factory=list)
    name: dict[int, str] = field(default_factory=dict)
    sellers: list[int] = field(default_factory=list)  # leaders and KOCs

    def add(
        self, role: str, parent: int, at: datetime, *, weight: float = 1.0, user: int | None = None
    ) -> int:
        self.role.append(role)
        self.parent.append(parent)
        self.approved.append(at)
        self.depth.append(0 if parent < 0 else self.depth[parent] + 1)
        self.weight.append(weight)
        self.user.append(user)
        index = len(self.role) - 1
        if role in (LEADER, KOC):
            self.sellers.append(index)
        return index

    def __len__(self) -> int:
        return len(self.role)

    def koc_id(self, index: int) -> int:
        return self.koc0 + index


def grow_team(plan: Plan, rng: random.Random, now: datetime, people: People) -> Team:
    """Branches, agencies, leaders, then KOCs under leaders or under recent KOCs: deep chains."""
    team = Team(koc0=next_id(Koc))
    start = now - timedelta(days=TEAM_DAYS)
    branches = []
    for name, _code in BRANCHES[: plan.branches]:
        branches.append(team.add(BRANCH, -1, start))
        team.name[branches[-1]] = name
    agencies = []
    for b, branch in enumerate(branches):
        for a in range(plan.agencies_per_branch):
            at = start + timedelta(days=5 + a * 3, hours=b)
            agencies.append(team.add(AGENCY, branch, at))
            team.name[agencies[-1]] = f"{team.name[branch][:2]}第{a + 1}机构（规模测试）"

    latest = now - timedelta(hours=2)

    def later(parent: int, spread: float) -> datetime:
        # A recruit joins after its sponsor, sooner rather than later: the team grows over time.
        room = (latest - team.approved[parent]).total_seconds()
        return team.approved[parent] + timedelta(seconds=room * spread * rng.random() ** 1.5 + 3600)

    user = people.koc_user0
    leaders = []
    for i in range(plan.leaders):
        agency = agencies[i % len(agencies)]
        leaders.append(
            team.add(LEADER, agency, later(agency, 0.6), weight=rng.paretovariate(1.4) * 3, user=user)
        )
        user += 1
    first_koc = len(team)
    for k in range(plan.kocs):
        # About a third under a leader, the rest under a recent KOC: chains several levels deep.
        if k == 0 or rng.random() < 0.3:
            parent = rng.choice(leaders)
        else:
            parent = first_koc + k - 1 - min(int(rng.expovariate(1 / 40)), k - 1)
            if team.depth[parent] >= MAX_DEPTH:
                parent = rng.choice(leaders)
        team.add(KOC, parent, later(parent, 0.5), weight=rng.paretovariate(1.6), user=user)
        user += 1
    return team


def _numbered(team: Team) -> tuple[list[int], list[int], list[int]]:
    """(tree index, lft, rght) of every node, numbered by the KOC app's own builder (children in index
    order); the tree index counts the roots in index order."""
    numbers = nested_set_for((i + 1, p + 1 if p >= 0 else None) for i, p in enumerate(team.parent))
    roots = {i + 1: t for t, i in enumerate(i for i, p in enumerate(team.parent) if p < 0)}
    n = len(team)
    tree, lft, rght = [0] * n, [0] * n, [0] * n
    for i in range(n):
        root, lft[i], rght[i], _depth = numbers[i + 1]
        tree[i] = roots[root]
    return tree, lft, rght


def insert_team(
    plan: Plan, rng: random.Random, now: datetime, team: Team, people: People, tag: str, stdout: TextIO
) -> None:
    """Number the tree and insert it, with its parent history, pending applicants and storefront picks."""
    from apps.kocs.selectors import team_tree_problems

    tree, lft, rght = _numbered(team)
    entry = Level.objects.filter(rank=0).values_list("pk", flat=True).first()
    bios = ["宝妈，爱喝茶。", "社区团长。", "茶叶店主。", "白领，分享好物。"]
    with transaction.atomic():
        lock_team_tree()
        roots = sum(1 for p in team.parent if p < 0)
        tree_ids = allocate_tree_ids(roots + plan.pending)  # as koc_create takes them: no clash

        def koc(i: int) -> dict:
            organisation = team.role[i] in Koc.ORGANISATION_ROLES
            approved = team.approved[i]
            row = dict(
                id=team.koc_id(i),
                user_id=team.user[i],
                role=team.role[i],
                status=Koc.Status.APPROVED,
                parent_id=team.koc_id(team.parent[i]) if team.parent[i] >= 0 else None,
                invite_code=f"S{i:07d}",
                real_name="" if organisation else person(team.user[i] - people.koc_user0),
                legal_name=team.name.get(i, "") if organisation else "",
                registration_number=f"91SCALE{i:08d}" if organisation else "",
                bio="" if organisation else bios[i % len(bios)],
                level_id=None if organisation else entry,
                applied_at=approved - timedelta(hours=2),
                reviewed_at=approved,
                approved_at=approved,
                created_at=approved - timedelta(hours=2),
                tree_id=tree_ids[tree[i]],
                lft=lft[i],
                rght=rght[i],
                depth=team.depth[i],
            )
            if team.role[i] == BRANCH:
                row["registration_number"] = f"{tag}-{BRANCHES[i][1]}"
            return row

        n = len(team)
        with Progress(n + plan.pending, label="team", stream=stdout) as bar:
            for start in range(0, n, BATCH):
                stop = min(n, start + BATCH)
                insert(Koc, [koc(i) for i in range(start, stop)])
                insert(
                    KocParentHistory,
                    [
                        dict(
                            koc_id=team.koc_id(i),
                            parent_id=team.koc_id(team.parent[i]) if team.parent[i] >= 0 else None,
                            valid_from=team.approved[i],
                            reason="规模测试数据 scale seed",
                        )
                        for i in range(start, stop)
                    ],
                )
                # Approval evaluates the new KOC's tier (evaluate_tiers_on_commit): with no sales yet
                # it meets the entry level, recorded as koc_evaluate_tier records it.
                insert(
                    LevelHistory,
                    [
                        dict(
                            koc_id=team.koc_id(i),
                            from_level_id=None,
                            to_level_id=entry,
                            reason=ENTRY_REASON,
                            automatic=True,
                            stats=NO_FIGURES,
                            at=team.approved[i],
                        )
                        for i in range(start, stop)
                        if entry is not None and team.role[i] in Koc.INDIVIDUAL_ROLES
                    ],
                )
                bar.advance(stop - start)
            # Pending applicants: each the root of a tree of its own until approved, sponsored by a KOC.
            pending = []
            for p in range(plan.pending):
                sponsor = rng.choice(team.sellers[: plan.leaders + 200])
                applied = now - timedelta(hours=rng.uniform(1, 24 * 6))
                pending.append(
                    dict(
                        id=team.koc_id(n + p),
                        user_id=people.koc_user0 + plan.leaders + plan.kocs + p,
                        role=KOC,
                        status=Koc.Status.PENDING,
                        sponsor_id=team.koc_id(sponsor),
                        invite_code=f"SP{p:07d}",
                        real_name=person(plan.leaders + plan.kocs + p),
                        bio=["宝妈，想分享好茶。", "社区团购团长。", "茶艺爱好者。", "导购，有客户群。"][
                            p % 4
                        ],
                        applied_at=applied,
                        created_at=applied,
                        tree_id=tree_ids[roots + p],
                        lft=1,
                        rght=2,
                        depth=0,
                    )
                )
            for start in range(0, len(pending), BATCH):
                insert(Koc, pending[start : start + BATCH])
            bar.advance(len(pending))
        reset_sequences(Koc, KocParentHistory, LevelHistory)
        problems = team_tree_problems()
        if problems:  # rolls the whole team back: never leave a broken tree behind
            raise RuntimeError(f"scale seed built an invalid team tree: {problems[:5]}")


def add_picks(team: Team, product_ids: list[int], rng: random.Random) -> None:
    """The busiest sellers feature three products in their storefront."""
    picks = []
    with transaction.atomic():
        for i in team.sellers:
            if team.weight[i] > 4:
                for position, product_id in enumerate(rng.sample(product_ids, k=min(3, len(product_ids)))):
                    picks.append(
                        dict(
                            koc_id=team.koc_id(i),
                            product_id=product_id,
                            position=position,
                            created_at=team.approved[i] + timedelta(hours=1),
                        )
                    )
                if len(picks) >= BATCH:
                    insert(KocProductPick, picks)
                    picks = []
        insert(KocProductPick, picks)
