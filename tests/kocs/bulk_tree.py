"""A large team tree written in bulk, for the admin's query-count tests at scale (100,000 KOCs).

The services add one node at a time under the tree lock (the right way, and far too slow to make
100,000 nodes in a test). Here the tree's nested-set columns are computed directly: each branch is its
own tree, nodes are numbered depth first, and `bulk_create` writes one depth at a time so children get
their parent's id. `selectors.team_tree_problems()` agrees with the result (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.kocs.models import Koc, KocParentHistory

BATCH = 5_000


@dataclass
class _Node:
    role: str
    children: list[_Node] = field(default_factory=list)
    obj: Koc | None = None


def seed_tree(*, branches: int, agencies: int, leaders: int, kocs: int) -> list[Koc]:
    """branches x agencies x leaders x kocs, all approved; individuals have users with names and phones.

    Returns the branch nodes. (10, 10, 10, 99) makes 100,110 KOCs.
    """
    roots = [
        _Node(
            Koc.Role.BRANCH,
            [
                _Node(
                    Koc.Role.AGENCY,
                    [
                        _Node(Koc.Role.LEADER, [_Node(Koc.Role.KOC) for _ in range(kocs)])
                        for _ in range(leaders)
                    ],
                )
                for _ in range(agencies)
            ],
        )
        for _ in range(branches)
    ]
    by_depth: list[list[tuple[_Node, _Node | None]]] = [[], [], [], []]
    serial = 0
    for tree_id, root in enumerate(roots, start=_next_tree_id()):
        counter = 0
        stack: list[tuple[_Node, _Node | None, int, bool]] = [(root, None, 0, False)]
        while stack:
            node, parent, depth, done = stack.pop()
            counter += 1
            if done:
                node.obj.rght = counter
                continue
            serial += 1
            node.obj = Koc(
                role=node.role,
                status=Koc.Status.APPROVED,
                tree_id=tree_id,
                depth=depth,
                lft=counter,
                rght=0,
                invite_code=f"BK{serial:07d}",
                legal_name=f"规模{node.role}{serial}" if node.role in Koc.ORGANISATION_ROLES else "",
            )
            by_depth[depth].append((node, parent))
            stack.append((node, parent, depth, True))
            stack.extend((child, node, depth + 1, False) for child in reversed(node.children))
    _with_users([n for level in by_depth[2:] for n, _ in level])
    for level in by_depth:
        objs = []
        for node, parent in level:
            node.obj.parent_id = parent.obj.pk if parent else None
            objs.append(node.obj)
        Koc.objects.bulk_create(objs, batch_size=BATCH)
    now = timezone.now()
    KocParentHistory.objects.bulk_create(
        (
            KocParentHistory(koc_id=node.obj.pk, parent_id=node.obj.parent_id, valid_from=now, reason="bulk")
            for level in by_depth
            for node, _ in level
        ),
        batch_size=BATCH,
    )
    return [root.obj for root in roots]


def _next_tree_id() -> int:
    from django.db.models import Max

    return (Koc.objects.aggregate(top=Max("tree_id"))["top"] or 0) + 1


def _with_users(nodes: list[_Node]) -> None:
    User = get_user_model()
    users = [
        User(
            username=f"bulk-{node.obj.invite_code}",
            nickname=f"规模用户{i}",
            phone=f"139{i:08d}",
            password="!",
        )
        for i, node in enumerate(nodes)
    ]
    User.objects.bulk_create(users, batch_size=BATCH)
    for node, user in zip(nodes, users, strict=True):
        node.obj.user_id = user.pk


# --- the same shape written by PostgreSQL itself (INSERT ... SELECT generate_series): 100,000 in seconds ---


def _insert_select(model, given: dict[str, str], from_sql: str, params: list, given_params=()) -> None:
    """INSERT INTO model's table the `given` column expressions, every other not-null column its default."""
    from django.db import connection

    columns, exprs, values = list(given), list(given.values()), []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.column in given or (f.null and not f.has_default()):
            continue
        columns.append(f.column)
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            exprs.append("now()")
        else:
            exprs.append("%s")
            values.append(f.get_db_prep_save(f.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {from_sql}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*given_params, *values, *params])


def seed_tree_sql(*, branches: int, agencies: int, leaders: int, kocs: int) -> list[Koc]:
    """`seed_tree`'s tree, built by PostgreSQL (nested-set numbers by arithmetic on the shape)."""
    from django.db import connection

    User = get_user_model()
    first = _next_tree_id()
    tag = f"T{first}"
    leader_size = 1 + kocs  # nodes in a leader's subtree
    agency_size = 1 + leaders * leader_size
    branch_size = 1 + agencies * agency_size
    grid = (
        "FROM generate_series(0, %s) b, generate_series(0, %s) a, generate_series(0, %s) l, "
        "generate_series(-1, %s) k"  # k = -1: the leader
    )
    code = "%s || 'B' || b || 'A' || a || 'L' || l || CASE WHEN k < 0 THEN '' ELSE 'K' || k END"
    serial = f"(((b * {agencies} + a) * {leaders} + l) * {leader_size} + k + 1)"
    _insert_select(
        User,
        {
            "username": f"'bulk-' || {code}",
            "nickname": f"'规模用户' || {serial}",
            "phone": f"'139' || lpad({serial}::text, 8, '0')",
            "password": "'!'",
        },
        grid,
        [branches - 1, agencies - 1, leaders - 1, kocs - 1],
        given_params=[tag],
    )
    approved = Koc.Status.APPROVED.value
    _insert_select(
        Koc,
        {
            "role": "'branch'",
            "status": f"'{approved}'",
            "tree_id": f"{first} + b",
            "lft": "1",
            "rght": f"{2 * branch_size}",
            "depth": "0",
            "invite_code": "%s || 'B' || b",
            "legal_name": "'规模分公司' || b",
        },
        "FROM generate_series(0, %s) b",
        [branches - 1],
        given_params=[tag],
    )
    prefix = f"{tag}B%"
    _insert_select(
        Koc,
        {
            "role": "'agency'",
            "status": f"'{approved}'",
            "tree_id": "p.tree_id",
            "parent_id": "p.id",
            "lft": f"2 + a * {2 * agency_size}",
            "rght": f"1 + (a + 1) * {2 * agency_size}",
            "depth": "1",
            "invite_code": "p.invite_code || 'A' || a",
            "legal_name": "'规模机构' || p.tree_id || '-' || a",
        },
        "FROM kocs_koc p, generate_series(0, %s) a WHERE p.depth = 0 AND p.invite_code LIKE %s",
        [agencies - 1, prefix],
    )
    for depth, role, count, size in ((2, "leader", leaders, leader_size), (3, "koc", kocs, 1)):
        letter = "L" if role == "leader" else "K"
        _insert_select(
            Koc,
            {
                "role": f"'{role}'",
                "status": f"'{approved}'",
                "tree_id": "p.tree_id",
                "parent_id": "p.id",
                "lft": f"p.lft + 1 + i * {2 * size}",
                "rght": f"p.lft + (i + 1) * {2 * size}",
                "depth": f"{depth}",
                "invite_code": f"p.invite_code || '{letter}' || i",
                "user_id": "u.id",
            },
            f"FROM kocs_koc p CROSS JOIN generate_series(0, %s) i "
            f"JOIN {User._meta.db_table} u ON u.username = 'bulk-' || p.invite_code || '{letter}' || i "
            "WHERE p.depth = %s AND p.invite_code LIKE %s",
            [count - 1, depth - 1, prefix],
        )
    _insert_select(
        KocParentHistory,
        {"koc_id": "id", "parent_id": "parent_id", "valid_from": "now()", "reason": "'bulk'"},
        "FROM kocs_koc WHERE invite_code LIKE %s",
        [prefix],
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Koc._meta.db_table}; ANALYZE {User._meta.db_table}")
    return list(Koc.objects.filter(depth=0, invite_code__startswith=f"{tag}B").order_by("tree_id"))
