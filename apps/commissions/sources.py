"""Everything the engine reads from the KOC app and the shop: the one module that imports them.

The engine is a separate system (docs/domain.md: 独立的分销系统): it learns about orders only from the
shop's events and reads the team tree and the catalogue through the small functions below, each
answering plain values or the engine's own dataclasses. Changing either app means changing only
this file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from .engine import Node


def _koc_model():
    from apps.kocs.models import Koc

    return Koc


def _node(koc) -> Node:
    level = getattr(koc, "level", None) if koc.level_id else None
    return Node(
        koc_id=koc.pk,
        role=koc.role,
        is_organisation=koc.is_organisation,
        approved=koc.is_approved,
        bonus_percent=Decimal(level.commission_bonus_percent) if level else Decimal(0),
    )


def _node_of(koc_id: int, role: str, status: str, bonus_percent) -> Node:
    """_node() from plain values (Koc.is_organisation and Koc.is_approved, read off the columns)."""
    Koc = _koc_model()
    return Node(
        koc_id=koc_id,
        role=role,
        is_organisation=role in Koc.ORGANISATION_ROLES,
        approved=status == Koc.Status.APPROVED,
        bonus_percent=Decimal(bonus_percent) if bonus_percent is not None else Decimal(0),
    )


# --- the team tree ----------------------------------------------------------------------------------


def koc_for_user(user):
    """The user's KOC row (any status) or None."""
    from apps.kocs.selectors import koc_for_user as select

    return select(user)


def node(koc_id: int) -> Node | None:
    koc = _koc_model().objects.select_related("level").filter(pk=koc_id).first()
    return _node(koc) if koc else None


def nodes(koc_ids: Iterable[int]) -> dict[int, Node]:
    found = _koc_model().objects.select_related("level").in_bulk(list(set(koc_ids)))
    return {pk: _node(koc) for pk, koc in found.items()}


def as_of(on: datetime) -> datetime:
    """The instant the team tree is read at for a time `on` reported by WeChat.

    WeChat Pay's success_time (an order's paid_at) has whole-second precision, while the team's
    parent history has microseconds. A whole-second paid_at stands for its whole second, so the tree
    is read as it stood at that second's end: a KOC who joined (or moved) at 12:00:00.7 has that
    parent for an order WeChat reports as paid at 12:00:00 (it was paid after she joined; within one
    second the order of a move and a payment is unknowable, so the change counts). A time with
    sub-second precision (our own clock) is exact and used as it is.
    """
    if on.microsecond == 0:
        return on + timedelta(microseconds=999_999)
    return on


def individual_uplines(*, koc_id: int, on: datetime, levels: int) -> list[Node]:
    """Individuals above `koc_id` on `on`, nearest first, at most `levels` (stops at an organisation)."""
    if levels <= 0:
        return []
    from apps.kocs.selectors import individual_uplines as select

    return [_node(k) for k in select(koc_id=koc_id, on=as_of(on), levels=levels)]


def organisation_ancestors(*, koc_id: int, on: datetime) -> list[Node]:
    from apps.kocs.selectors import organisation_ancestors as select

    return [_node(k) for k in select(koc_id=koc_id, on=as_of(on))]


def chain_on(*, koc_id: int, on: datetime, levels: int) -> tuple[Node | None, list[Node], list[Node]]:
    """(the seller, its individual uplines (at most `levels`), its organisation ancestors) on `on`.

    The same answers as node() + individual_uplines() + organisation_ancestors(), in two queries
    instead of five: one walk of the parent history, one read of the nodes.
    """
    from apps.kocs import selectors

    ancestor_ids = selectors.ancestor_ids_on(koc_id=koc_id, on=as_of(on), depth=selectors.MAX_TREE_DEPTH)
    found = _koc_model().objects.select_related("level").in_bulk([koc_id, *ancestor_ids])
    if koc_id not in found:
        return None, [], []
    ancestors = [_node(found[i]) for i in ancestor_ids if i in found]
    uplines: list[Node] = []
    for ancestor in ancestors:
        if ancestor.is_organisation or len(uplines) >= levels:
            break
        uplines.append(ancestor)
    return _node(found[koc_id]), uplines, [a for a in ancestors if a.is_organisation]


@dataclass(frozen=True)
class AccrualReads:
    """Everything one order's accrual reads, from one query (`accrual_reads`)."""

    rule_set_id: int | None  # the set in force at the paid date (one with rules), if any
    rule_set_version: int | None
    rule_set_stamp: str  # its creation time: with id and version, the key of its cached rules
    seller: Node | None
    uplines: list[Node]
    organisations: list[Node]
    accounts: dict[int, int]  # koc id -> commission account id, for the chain's KOCs that have one
    category_paths: dict[int, tuple[int, ...]]
    brand_max: dict[int, Decimal]


def accrual_reads(
    *, koc_id: int | None, on: datetime, levels: int, category_ids: Iterable[int], brand_ids: Iterable[int]
) -> AccrualReads:
    """What accrual reads for one order, in ONE round trip instead of seven: the rule set in force at
    `on` (id and version: its rules come from the process cache, apps.commissions.plans), the chain
    of chain_on() with each node's commission account, the items' category paths and their brands'
    maximum rates. A UNION ALL of four plain selects, each row tagged by what it is; every answer
    is read fresh, so nothing here can go stale (the only cached part, the rules of an in-force set,
    never changes: a set is editable only while it is a draft).
    """
    from apps.kocs import selectors
    from apps.kocs.models import Level
    from apps.shop.models import Brand, Category

    from .models import Account, Rule, RuleSet

    qn = connection.ops.quote_name
    koc_t, level_t = qn(_koc_model()._meta.db_table), qn(Level._meta.db_table)
    account_t, history_t = qn(Account._meta.db_table), qn(selectors.KocParentHistory._meta.db_table)
    category_t, brand_t = qn(Category._meta.db_table), qn(Brand._meta.db_table)
    ruleset_t, rule_t = qn(RuleSet._meta.db_table), qn(Rule._meta.db_table)
    at_tree = connection.ops.adapt_datetimefield_value(as_of(on))
    at = connection.ops.adapt_datetimefield_value(on)
    parts: list[str] = []
    params: list = []
    prefix = ""
    if koc_id:
        prefix = f"""WITH RECURSIVE chain(koc_id, depth) AS (
            SELECT h.parent_id, 1 FROM {history_t} h
            WHERE h.koc_id = %s AND h.parent_id IS NOT NULL
              AND h.valid_from <= %s AND (h.valid_to IS NULL OR h.valid_to > %s)
            UNION ALL
            SELECT h.parent_id, chain.depth + 1 FROM {history_t} h
            JOIN chain ON h.koc_id = chain.koc_id
            WHERE h.parent_id IS NOT NULL AND chain.depth < %s
              AND h.valid_from <= %s AND (h.valid_to IS NULL OR h.valid_to > %s)
        ) """  # noqa: S608
        params += [koc_id, at_tree, at_tree, selectors.MAX_TREE_DEPTH, at_tree, at_tree]
        parts.append(
            # The seller (depth 0) and its chain, joined to the KOCs by id: an OR across a LEFT
            # JOIN (k.id = seller OR in chain) scanned every KOC, seconds a sale at a million.
            f"""SELECT 'k', k.id, k.role, k.status, lv.commission_bonus_percent, acc.id, ch.depth
            FROM (SELECT %s AS koc_id, 0 AS depth UNION ALL SELECT koc_id, depth FROM chain) ch
            JOIN {koc_t} k ON k.id = ch.koc_id
            LEFT JOIN {level_t} lv ON lv.id = k.level_id
            LEFT JOIN {account_t} acc ON acc.koc_id = k.id"""  # noqa: S608
        )
        params.append(koc_id)
    categories = sorted({int(c) for c in category_ids if c})
    if categories:
        parts.append(
            f"""SELECT 'c', c.id, NULL, NULL, NULL, a.id, a.lft FROM {category_t} c
            JOIN {category_t} a ON a.tree_id = c.tree_id AND a.lft <= c.lft AND a.rght >= c.rght
            WHERE c.id IN ({", ".join(["%s"] * len(categories))})"""  # noqa: S608
        )
        params += categories
    brands = sorted({int(b) for b in brand_ids if b})
    if brands:
        parts.append(
            f"""SELECT 'b', b.id, NULL, NULL, b.max_commission_rate, NULL, NULL FROM {brand_t} b
            WHERE b.id IN ({", ".join(["%s"] * len(brands))})"""  # noqa: S608
        )
        params += brands
    # As plans.plan_in_force: the activated set whose window holds `on`, among those with rules.
    parts.append(
        f"""SELECT 'r', r.id, CAST(r.created_at AS TEXT), NULL, NULL, r.version, NULL FROM (
            SELECT s.id, s.version, s.created_at FROM {ruleset_t} s
            WHERE s.status IN (%s, %s) AND s.effective_from <= %s
              AND (s.effective_to IS NULL OR s.effective_to > %s)
              AND EXISTS (SELECT 1 FROM {rule_t} ru WHERE ru.rule_set_id = s.id)
            ORDER BY s.effective_from DESC LIMIT 1
        ) r"""  # noqa: S608
    )
    params += [RuleSet.Status.ACTIVE, RuleSet.Status.RETIRED, at, at]
    sql = prefix + " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    found: dict[int, tuple[int, Node]] = {}
    accounts: dict[int, int] = {}
    paths: dict[int, list[tuple[int, int]]] = {}
    brand_max: dict[int, Decimal] = {}
    rule_set_id = rule_set_version = None
    rule_set_stamp = ""
    for tag, pk, role, status, number, other, order in rows:
        if tag == "k":
            found[pk] = (order, _node_of(pk, role, status, number))
            if other is not None:
                accounts[pk] = other
        elif tag == "c":
            paths.setdefault(pk, []).append((order, other))
        elif tag == "b":
            brand_max[pk] = Decimal(number)
        else:
            rule_set_id, rule_set_version, rule_set_stamp = pk, other, role or ""
    seller = found.pop(koc_id)[1] if koc_id in found else None
    uplines: list[Node] = []
    organisations: list[Node] = []
    if seller is not None:
        ancestors = [node for _depth, node in sorted(found.values(), key=lambda pair: pair[0])]
        for ancestor in ancestors:
            if ancestor.is_organisation or len(uplines) >= levels:
                break
            uplines.append(ancestor)
        organisations = [a for a in ancestors if a.is_organisation]
    return AccrualReads(
        rule_set_id=rule_set_id,
        rule_set_version=rule_set_version,
        rule_set_stamp=rule_set_stamp,
        seller=seller,
        uplines=uplines,
        organisations=organisations,
        accounts=accounts,
        category_paths={c: tuple(a for _lft, a in sorted(rows_, reverse=True)) for c, rows_ in paths.items()},
        brand_max=brand_max,
    )


class TreeOverPeriod:
    """The team tree over [start, end), read once for many orders (the dry run).

    `chain_on` gives the answers of chain_on() above for any instant of the period, from three
    queries in all, however many orders ask: the parent-history rows of the sellers and of all
    their ancestors over the period, the nodes, and the sellers' level changes. Like chain_on(),
    roles and approval are today's; unlike it, the seller's tier bonus is that of the level she
    held at the instant asked (her level history), so a KOC promoted yesterday does not lift the
    orders she sold last month. `tiers=False` skips reading the level history (a plan without a
    tier rule never looks at the bonus).
    """

    def __init__(self, *, seller_ids: Iterable[int], start: datetime, end: datetime, tiers: bool = True):
        from apps.kocs import selectors

        self._max_depth = selectors.MAX_TREE_DEPTH
        sellers = sorted(set(seller_ids))
        # as_of() reads a whole-second paid_at at the end of its second: cover the one after `end`.
        self._lo, self._hi = start, end + timedelta(seconds=1)
        rows = selectors.parent_history_over(koc_ids=sellers, start=self._lo, end=self._hi)
        self._parents: dict[int, list[tuple[datetime, datetime | None, int | None]]] = {}
        for koc_id, parent_id, valid_from, valid_to in rows:
            self._parents.setdefault(koc_id, []).append((valid_from, valid_to, parent_id))
        ids = set(sellers) | set(self._parents) | {p for _k, p, _f, _t in rows if p is not None}
        # Plain values, not model instances: a dry run reads thousands of nodes.
        self._nodes = {
            pk: _node_of(pk, role, status, bonus)
            for pk, role, status, bonus in _koc_model()
            .objects.filter(pk__in=sorted(ids))
            .values_list("pk", "role", "status", "level__commission_bonus_percent")
        }
        self._levels: dict[int, list[tuple[datetime, Decimal, Decimal]]] = {}
        for koc_id, at, before, after in selectors.level_history_of(koc_ids=sellers) if tiers else ():
            self._levels.setdefault(koc_id, []).append((at, Decimal(before or 0), Decimal(after or 0)))
        # Chains that cannot change during the period (no move on the way up): walked once.
        self._stable: dict[tuple[int, int], tuple[Node, list[Node], list[Node]]] = {}

    def _parent_on(self, koc_id: int, at: datetime) -> tuple[int | None, bool]:
        """(the parent at `at`, whether that parent is the same during the whole period)."""
        rows = self._parents.get(koc_id)
        if not rows:
            return None, True
        for valid_from, valid_to, parent_id in rows:
            if valid_from <= at and (valid_to is None or at < valid_to):
                whole = (
                    len(rows) == 1 and valid_from <= self._lo and (valid_to is None or valid_to > self._hi)
                )
                return parent_id, whole
        return None, False

    def _ancestors(self, koc_id: int, at: datetime) -> tuple[list[int], bool]:
        out: list[int] = []
        stable = True
        current = koc_id
        while len(out) < self._max_depth:
            parent, whole = self._parent_on(current, at)
            stable = stable and whole
            if parent is None:
                break
            out.append(parent)
            current = parent
        return out, stable

    def ancestor_ids_on(self, *, koc_id: int, on: datetime) -> list[int]:
        """As apps.kocs.selectors.ancestor_ids_on(on=as_of(on)), nearest first."""
        return self._ancestors(koc_id, as_of(on))[0]

    def tier_bonus_on(self, *, koc_id: int, on: datetime) -> Decimal:
        """The bonus % of the level `koc_id` held at `on`: the last change before it, else the level
        the first later change started from, else (never changed) the level it holds today."""
        changes = self._levels.get(koc_id)
        if not changes:
            node = self._nodes.get(koc_id)
            return node.bonus_percent if node else Decimal(0)
        at = as_of(on)
        held = None
        for changed_at, before, after in changes:
            if changed_at <= at:
                held = after
            else:
                return before if held is None else held
        return held

    def chain_on(
        self, *, koc_id: int, on: datetime, levels: int
    ) -> tuple[Node | None, list[Node], list[Node]]:
        """(the seller with its tier as of `on`, individual uplines, organisation ancestors)."""
        chain = self._stable.get((koc_id, levels))
        if chain is None:
            seller = self._nodes.get(koc_id)
            if seller is None:
                return None, [], []
            ids, stable = self._ancestors(koc_id, as_of(on))
            ancestors = [self._nodes[i] for i in ids if i in self._nodes]
            uplines: list[Node] = []
            for ancestor in ancestors:
                if ancestor.is_organisation or len(uplines) >= levels:
                    break
                uplines.append(ancestor)
            chain = (seller, uplines, [a for a in ancestors if a.is_organisation])
            if stable:
                self._stable[(koc_id, levels)] = chain
        seller, uplines, organisations = chain
        if koc_id in self._levels:
            seller = replace(seller, bonus_percent=self.tier_bonus_on(koc_id=koc_id, on=on))
        return seller, list(uplines), list(organisations)


def max_level_bonus_percent() -> Decimal:
    """The largest tier bonus any level gives (compliance's worst case)."""
    from django.db.models import Max

    from apps.kocs.models import Level

    value = Level.objects.aggregate(m=Max("commission_bonus_percent"))["m"]
    return Decimal(value or 0)


@dataclass(frozen=True)
class Payee:
    koc_id: int
    user_id: int | None
    openid: str
    is_organisation: bool
    real_name: str
    id_number: str
    legal_name: str
    approved: bool


def payee(koc_id: int) -> Payee | None:
    koc = _koc_model().objects.select_related("user").filter(pk=koc_id).first()
    if koc is None:
        return None
    user = koc.user if koc.user_id else None
    return Payee(
        koc_id=koc.pk,
        user_id=koc.user_id,
        openid=(user.openid or "") if user else "",
        is_organisation=koc.is_organisation,
        real_name=koc.real_name or "",
        id_number=koc.id_number or "",
        legal_name=koc.legal_name or "",
        approved=koc.is_approved,
    )


@dataclass(frozen=True)
class Identity:
    """Who a payee is for the tax authority: a person (ID card) or a company (credit code)."""

    kind: str
    name: str
    id_type: str
    number: str


def identities(koc_ids: Iterable[int]) -> dict[int, Identity]:
    """Full identities (the ID number decrypted) for the tax authority's reports only. One query."""
    rows = (
        _koc_model()
        .objects.filter(pk__in=list(set(koc_ids)))
        .only("pk", "role", "real_name", "id_number", "legal_name", "registration_number")
    )
    out = {}
    for koc in rows:
        if koc.is_organisation:
            out[koc.pk] = Identity("机构", koc.legal_name, "统一社会信用代码", koc.registration_number)
        else:
            out[koc.pk] = Identity("个人", koc.real_name, "居民身份证", koc.id_number)
    return out


def koc_labels(koc_ids: Iterable[int]) -> dict[int, str]:
    """Readable names for reports (the dry run, the tax statement)."""
    found = _koc_model().objects.select_related("user").in_bulk(list(set(koc_ids)))
    return {pk: f"{koc.display_name} ({koc.get_role_display()})" for pk, koc in found.items()}


def koc_exists(koc_ids: Iterable[int]) -> set[int]:
    return set(_koc_model().objects.filter(pk__in=list(koc_ids)).values_list("pk", flat=True))


# --- the catalogue ----------------------------------------------------------------------------------


def category_paths(category_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """Each category with its ancestors, nearest first: one query for all of them (mptt bounds)."""
    from django.db import connection

    from apps.shop.models import Category

    ids = sorted({int(c) for c in category_ids if c is not None})
    if not ids:
        return {}
    table = connection.ops.quote_name(Category._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    sql = f"""
        SELECT c.id, a.id FROM {table} c
        JOIN {table} a ON a.tree_id = c.tree_id AND a.lft <= c.lft AND a.rght >= c.rght
        WHERE c.id IN ({placeholders})
        ORDER BY c.id, a.lft DESC
    """  # noqa: S608 - only our own quoted table name and placeholders are interpolated
    paths: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        for category_id, ancestor_id in cursor.fetchall():
            paths.setdefault(category_id, []).append(ancestor_id)
    return {k: tuple(v) for k, v in paths.items()}


def brand_max_rates(brand_ids: Iterable[int] | None = None) -> dict[int, Decimal]:
    from apps.shop.models import Brand

    qs = Brand.objects.all()
    if brand_ids is not None:
        qs = qs.filter(pk__in=list(set(brand_ids)))
    return {pk: Decimal(rate) for pk, rate in qs.values_list("pk", "max_commission_rate")}


def brand_names(brand_ids: Iterable[int]) -> dict[int, str]:
    from apps.shop.models import Brand

    return dict(Brand.objects.filter(pk__in=list(set(brand_ids))).values_list("pk", "name"))


def product_brands(product_ids: Iterable[int]) -> dict[int, int]:
    from apps.shop.models import Product

    return dict(Product.objects.filter(pk__in=list(set(product_ids))).values_list("pk", "brand_id"))


def product_min_prices(product_ids: Iterable[int]) -> dict[int, int]:
    """The lowest active SKU price of each product: the worst case of a per-unit reward in percent."""
    from django.db.models import Min

    from apps.shop.models import Sku

    rows = (
        Sku.objects.filter(product_id__in=list(set(product_ids)))
        .values("product_id")
        .annotate(m=Min("price_fen"))
        .values_list("product_id", "m")
    )
    return {pid: int(m) for pid, m in rows}


def product_lines(product_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """product id -> (brand id, category id): compliance's probe lines for the products rules name."""
    from apps.shop.models import Product

    rows = Product.objects.filter(pk__in=list(set(product_ids))).values_list("pk", "brand_id", "category_id")
    return {pk: (brand, category) for pk, brand, category in rows}


def brand_category_pairs() -> set[tuple[int, int]]:
    """Every (brand, category) pair the catalogue sells: one probe line each for compliance."""
    from apps.shop.models import Product

    return set(Product.objects.values_list("brand_id", "category_id").distinct())


def category_exists(category_ids: Iterable[int]) -> set[int]:
    from apps.shop.models import Category

    return set(Category.objects.filter(pk__in=list(category_ids)).values_list("pk", flat=True))


def brands_in_category(category_id: int) -> set[int]:
    """Brands with products in the category or below it (to check a category rule against brands)."""
    from apps.shop.models import Category, Product

    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        return set()
    descendants = category.get_descendants(include_self=True)
    return set(Product.objects.filter(category__in=descendants).values_list("brand_id", flat=True).distinct())
