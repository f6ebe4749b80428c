"""From the shop's order events to commissions in the ledger, whatever order the events come in.

Every event is first merged into a fact row (`OrderFact` by order id, `RefundFact` by refund id);
then `order_reconcile` brings the ledger to what the facts imply, doing only what is missing:

1. accrue, once the payment is known (order_paid, or order_completed which carries the same data):
   the commissions of the rule set in force at `paid_at`, into `pending`;
2. reverse each known refund not yet applied, pro rata: refund r moves
   pro_rata(a, refunded_after, paid) - pro_rata(a, refunded_before, paid) of a commission of `a` fen
   to `reversed` - the differences telescope, so a full refund reverses exactly `a`, whatever the
   number and the arrival order of the partial refunds, and each refund's own share never depends on
   when it arrived;
3. freeze what is left once the order is completed (available_at = completed_at + FREEZE_DAYS) and
   every refund the completion payload already counted has arrived.

So paid twice, completion twice, a refund before completion or before the payment, all end in the
same ledger as the clean sequence. Each action is keyed (`c:<commission>:freeze`, ...) and runs under
the order-fact lock, then the account locks (lock_objects.py order).

Cheap to run: an order_paid is one transaction of three statements on PostgreSQL (bench_accrual;
tests/commissions/test_accrual_queries.py holds it there): the fact upserted and locked by one
INSERT ... ON CONFLICT DO UPDATE ... RETURNING, everything the engine reads in one query
(sources.accrual_reads: the set in force, the tree with the accounts, categories, brands), and
every write (org links, commissions, their entries, the fact) in one statement of data-modifying
CTEs. The rules of the set in force are the only thing cached (plans.in_force_spec: an in-force set
never changes its rules); a KOC's first commission adds the two statements that create her account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.money import yuan

from .. import sources
from ..engine import (
    Item,
    Node,
    OrderInput,
    Outcome,
    PlanSpec,
    RefundState,
    compute,
    effective_max_levels,
    kept_all,
)
from ..lock_objects import accounts_lock, commissions_lock, order_fact_lock
from ..models import Bucket, Commission, LedgerEntry, OrderFact, OrderOrgLink, RefundFact
from ..plans import in_force_spec
from .ledger import accounts_for_kocs, after_available_status, bucket_of, move


def _dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) and value else None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _pairs(rows: Any) -> list[list[int]]:
    """[{"item_id", "quantity"}, ...] from a payload as [[item_id, quantity], ...] (junk dropped)."""
    out = []
    for row in rows or []:
        if isinstance(row, dict) and _int(row.get("item_id")) > 0 and _int(row.get("quantity")) > 0:
            out.append([_int(row["item_id"]), _int(row["quantity"])])
    return out


# --- facts ------------------------------------------------------------------------------------------


def _fact_for(order_id: int, order_no: str) -> OrderFact:
    """The fact row of an order, created when missing, locked, in ONE statement:
    INSERT ... ON CONFLICT (order_id) DO UPDATE ... RETURNING the row.

    The conflict branch sets order_no to itself: a no-op that makes PostgreSQL lock the existing row
    (FOR NO KEY UPDATE strength, since no key column is named: the lock_objects.py rule) and return
    it; a new row is locked by its own insert. SQLite (3.35+) runs the same statement.
    """
    table = connection.ops.quote_name(OrderFact._meta.db_table)
    fields = [f for f in OrderFact._meta.concrete_fields if not f.primary_key]
    new = OrderFact(order_id=order_id, order_no=order_no[:32])
    values = [f.get_db_prep_save(f.pre_save(new, add=True), connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    returning = ", ".join(connection.ops.quote_name(f.column) for f in OrderFact._meta.concrete_fields)
    order_no_column = connection.ops.quote_name("order_no")
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608
        f"ON CONFLICT ({connection.ops.quote_name('order_id')}) "
        f"DO UPDATE SET {order_no_column} = {table}.{order_no_column} RETURNING {returning}"
    )
    fact = next(iter(OrderFact.objects.raw(sql, values)), None)
    assert fact is not None
    return fact


def _merge_order(fact: OrderFact, payload: dict[str, Any]) -> None:
    """Fill in the payment side of a fact from an order_paid / order_completed payload, once."""
    if fact.payload or not _dt(payload.get("paid_at")):
        return
    items = [dict(i) for i in payload.get("items") or []]
    fact.order_no = str(payload.get("order_no") or fact.order_no)[:32]
    fact.buyer_id = payload.get("buyer_id")
    fact.attributed_koc_id = payload.get("attributed_koc_id")
    fact.paid_fen = _int(payload.get("paid_fen"))
    fact.total_fen = _int(payload.get("total_fen"))
    fact.paid_at = _dt(payload.get("paid_at"))
    fact.units = sum(_int(i.get("quantity")) for i in items)
    fact.payload = {
        "attribution": payload.get("attribution") or {},
        "share_link_id": payload.get("share_link_id"),
        "kind": payload.get("kind"),
        "items": items,
    }


@transaction.atomic
def order_paid_record(*, payload: dict[str, Any]) -> OrderFact:
    fact = _fact_for(_int(payload["order_id"]), str(payload.get("order_no") or ""))
    _merge_order(fact, payload)
    _reconcile_and_save(fact)
    return fact


@transaction.atomic
def order_completed_record(*, payload: dict[str, Any]) -> OrderFact:
    fact = _fact_for(_int(payload["order_id"]), str(payload.get("order_no") or ""))
    _merge_order(fact, payload)
    if fact.completed_at is None:
        fact.completed_at = _dt(payload.get("completed_at")) or timezone.now()
        fact.refunded_at_completion_fen = _int(payload.get("refunded_fen"))
        _periods_stale(fact)
    fact.refunded_fen = max(fact.refunded_fen, _int(payload.get("refunded_fen")))
    _reconcile_and_save(fact)
    return fact


@transaction.atomic
def order_refunded_record(*, payload: dict[str, Any]) -> OrderFact:
    order_id = _int(payload["order_id"])
    fact = _fact_for(order_id, str(payload.get("order_no") or ""))
    RefundFact.objects.bulk_create(
        [
            RefundFact(
                refund_id=_int(payload["refund_id"]),
                order_id=order_id,
                amount_fen=_int(payload.get("amount_fen")),
                refunded_fen=_int(payload.get("refunded_fen")),
                items=_pairs(payload.get("items")),
                units_after=_pairs(payload.get("refunded_items")),
                lines_fen_after=_int(payload.get("refunded_lines_fen")),
                paid_fen=_int(payload.get("paid_fen")),
                refunded_at=_dt(payload.get("refunded_at")),
            )
        ],
        ignore_conflicts=True,
    )
    # Any refund makes refunded_fen > 0: the cheap sign that refund facts may be waiting.
    fact.refunded_fen = max(fact.refunded_fen, _int(payload.get("refunded_fen")), 1)
    if fact.completed_at is not None:
        _periods_stale(fact)
    _reconcile_and_save(fact)
    return fact


def _periods_stale(fact: OrderFact) -> None:
    """The order's completion or a refund after it may change a closed period's rewards: mark it,
    and let a task apply it after commit (settle_commissions sweeps whatever a lost task left)."""
    from apps.core.deferred import send_on_commit

    from ..tasks import resync_periods

    if not fact.periods_stale:
        fact.periods_stale = True
        send_on_commit(resync_periods)


# --- the engine's input -----------------------------------------------------------------------------


class TreeReader:
    """Reads the catalogue for many orders (caches what does not depend on the date)."""

    def __init__(self) -> None:
        self._paths: dict[int, tuple[int, ...]] = {}
        self._brand_max: dict[int, Any] = {}

    def category_paths(self, ids: set[int]) -> dict[int, tuple[int, ...]]:
        missing = {i for i in ids if i not in self._paths}
        if missing:
            found = sources.category_paths(missing)
            for i in missing:
                self._paths[i] = found.get(i, (i,))
        return {i: self._paths[i] for i in ids}

    def brand_max(self, ids: set[int]) -> dict[int, Any]:
        missing = {i for i in ids if i not in self._brand_max}
        if missing:
            self._brand_max.update(sources.brand_max_rates(missing))
        return {i: self._brand_max[i] for i in ids if i in self._brand_max}


def fact_items(fact: OrderFact, *, reader: TreeReader) -> tuple[Item, ...]:
    """The engine's items of an order fact, from its payload, with their categories' paths."""
    items_raw = fact.payload.get("items") or []
    paths = reader.category_paths({_int(i.get("category_id")) for i in items_raw if i.get("category_id")})
    return tuple(
        Item(
            item_id=_int(i.get("item_id")),
            product_id=_int(i.get("product_id")),
            brand_id=_int(i.get("brand_id")),
            category_path=paths.get(_int(i.get("category_id")), ()),
            quantity=_int(i.get("quantity")),
            line_fen=_int(i.get("line_fen")),
        )
        for i in items_raw
    )


def order_input(fact: OrderFact, *, reader: TreeReader | None = None, tree=None) -> OrderInput:
    """The engine's view of an order: its items, and the tree as it was on the paid date.

    `tree` answers chain_on() like `sources` does (the dry run passes a sources.TreeOverPeriod,
    read once for all its orders); by default the tree is read for this order.
    """
    items = fact_items(fact, reader=reader or TreeReader())
    attribution = fact.payload.get("attribution") or {}
    seller: Node | None = None
    uplines: list[Node] = []
    organisations: list[Node] = []
    if fact.attributed_koc_id:
        levels = effective_max_levels(settings.COMMISSION_MAX_LEVELS)
        seller, uplines, organisations = (tree or sources).chain_on(
            koc_id=fact.attributed_koc_id, on=fact.paid_at, levels=max(0, levels - 1)
        )
    return OrderInput(
        order_id=fact.order_id,
        order_no=fact.order_no,
        paid_fen=fact.paid_fen,
        total_fen=fact.total_fen,
        paid_at=fact.paid_at,
        items=items,
        seller=seller,
        self_purchase=bool(attribution.get("self_purchase")),
        uplines=tuple(uplines),
        organisations=tuple(organisations),
    )


def compute_for(order: OrderInput, plan: PlanSpec | None, *, reader: TreeReader | None = None) -> Outcome:
    reader = reader or TreeReader()
    return compute(
        order,
        plan,
        brand_max=reader.brand_max({i.brand_id for i in order.items}),
        cap_percent=settings.COMMISSION_CAP_PERCENT,
        max_levels=settings.COMMISSION_MAX_LEVELS,
    )


# --- reconciliation ---------------------------------------------------------------------------------


@transaction.atomic
def order_reconcile(*, order_id: int) -> None:
    """Bring one order's ledger to what its facts imply (see the module docstring). Idempotent."""
    fact = order_fact_lock(order_id=order_id)
    if fact is None:
        return
    _reconcile_and_save(fact)


def _reconcile_and_save(fact: OrderFact) -> None:
    """The work of order_reconcile on a fact the caller has locked, then the fact saved."""
    if not _reconcile(fact):
        fact.save()


def _reconcile(fact: OrderFact) -> bool:
    """Returns whether the fact is already saved (with the accrual's rows)."""
    accrued: tuple[list[Commission], dict[int, Any]] | None = None
    if fact.has_payment and fact.accrued_at is None:
        accrual = _accrue(fact)
        if fact.refunded_fen <= 0 and fact.completed_at is None:
            # The usual case (order_paid first): nothing follows the accrual, so its rows and the
            # fact's update go to the database together (one statement on PostgreSQL).
            _write_accrual(fact, accrual, save_fact=True)
            return True
        accrued = _write_accrual(fact, accrual, save_fact=False)
    if fact.accrued_at is None:
        return False  # refunds and completion wait for the payment's facts
    refunds = []
    if fact.refunded_fen > 0:
        refunds = list(
            RefundFact.objects.filter(order_id=fact.order_id, applied_at__isnull=True).order_by("refund_id")
        )
    freeze = fact.completed_at is not None and fact.frozen_at is None and _refunds_known(fact)
    if not refunds and not freeze:
        return False
    if accrued is not None:
        commissions, accounts = accrued
        if refunds:
            accounts = accounts_lock(account_ids=list(accounts))
    elif refunds:
        # A reversal may take from `available`, which withdrawals check: under the account locks.
        ids = list(Commission.objects.filter(order_id=fact.order_id).values_list("pk", "account_id"))
        accounts = accounts_lock(account_ids=[a for _c, a in ids])
        commissions = commissions_lock(ids=[c for c, _a in ids])
    else:
        # Freezing moves pending money only; pending commissions of an order change only under its
        # fact lock, which we hold. No account lock: a busy KOC's orders do not queue on each other.
        accounts = {}
        commissions = list(Commission.objects.filter(order_id=fact.order_id).order_by("pk"))
    now = timezone.now()
    for refund in refunds:
        _reverse(fact, refund, commissions, accounts)
    if refunds:
        RefundFact.objects.filter(pk__in=[r.pk for r in refunds]).update(applied_at=now)
    if freeze:
        _freeze(fact, commissions)
        fact.frozen_at = now
    return False


def _refunds_known(fact: OrderFact) -> bool:
    """Has every refund that order_completed already counted reached us? Freezing waits for them,
    so a refund made before completion but delivered after it is reversed out of `pending`, exactly
    as in the clean sequence."""
    if fact.refunded_at_completion_fen <= 0:
        return True
    known = RefundFact.objects.filter(order_id=fact.order_id).aggregate(t=Sum("amount_fen"))["t"] or 0
    return known >= fact.refunded_at_completion_fen


@dataclass
class _Accrual:
    commissions: list[Commission]  # not saved yet
    org_koc_ids: list[int]


def _accrue(fact: OrderFact) -> _Accrual:
    """Compute the order's commissions (not written yet: _write_accrual) and mark the fact accrued.

    Reads: one query for everything (sources.accrual_reads), plus, only the first time, the rules
    of the set in force (then cached by the process, plans.in_force_spec) and the accounts of KOCs
    who never earned before.
    """
    items_raw = fact.payload.get("items") or []
    levels = effective_max_levels(settings.COMMISSION_MAX_LEVELS)
    reads = sources.accrual_reads(
        koc_id=fact.attributed_koc_id,
        on=fact.paid_at,
        levels=max(0, levels - 1),
        category_ids={_int(i.get("category_id")) for i in items_raw},
        brand_ids={_int(i.get("brand_id")) for i in items_raw},
    )
    rule_set, plan = None, None
    if reads.rule_set_id is not None:
        rule_set, plan = in_force_spec(reads.rule_set_id, reads.rule_set_version, reads.rule_set_stamp)
    order = OrderInput(
        order_id=fact.order_id,
        order_no=fact.order_no,
        paid_fen=fact.paid_fen,
        total_fen=fact.total_fen,
        paid_at=fact.paid_at,
        items=tuple(
            Item(
                item_id=_int(i.get("item_id")),
                product_id=_int(i.get("product_id")),
                brand_id=_int(i.get("brand_id")),
                category_path=(
                    reads.category_paths.get(_int(i.get("category_id")), (_int(i.get("category_id")),))
                    if i.get("category_id")
                    else ()
                ),
                quantity=_int(i.get("quantity")),
                line_fen=_int(i.get("line_fen")),
            )
            for i in items_raw
        ),
        seller=reads.seller,
        self_purchase=bool((fact.payload.get("attribution") or {}).get("self_purchase")),
        uplines=tuple(reads.uplines),
        organisations=tuple(reads.organisations),
    )
    outcome = compute(
        order,
        plan,
        brand_max=reads.brand_max,
        cap_percent=settings.COMMISSION_CAP_PERCENT,
        max_levels=settings.COMMISSION_MAX_LEVELS,
    )
    accounts = dict(reads.accounts)
    missing = [p.koc_id for p in outcome.parts if p.koc_id not in accounts]
    if missing:
        # Accrual only adds to `pending`, which no balance check reads: the accounts need to exist,
        # not to be locked (a busy KOC's orders do not queue on each other).
        by_koc = accounts_for_kocs(
            koc_ids=missing, organisations=[p.koc_id for p in outcome.parts if p.is_organisation]
        )
        accounts.update({k: a.pk for k, a in by_koc.items()})
    commissions = [
        Commission(
            key=f"o:{fact.order_id}:r:{part.rule_id}:k:{part.koc_id}",
            account_id=accounts[part.koc_id],
            koc_id=part.koc_id,
            kind=part.kind,
            level=part.level,
            order_id=fact.order_id,
            order_no=fact.order_no,
            rule_id=part.rule_id,
            rule_set_id=rule_set.pk,
            rule_set_version=rule_set.version,
            base_fen=part.base_fen,
            rate_percent=part.rate_percent,
            unit_fen=part.unit_fen,
            quantity=part.quantity,
            amount_fen=part.amount_fen,
            lines=[list(line) for line in part.lines],
            explanation=part.explanation,
            status=Commission.Status.PENDING,
        )
        for part in outcome.parts
    ]
    fact.accrued_at = timezone.now()
    fact.rule_set_id = rule_set.pk if rule_set else None
    fact.cap_fen = outcome.cap_fen
    return _Accrual(commissions=commissions, org_koc_ids=[org.koc_id for org in order.organisations])


def _accrual_entry(commission: Commission) -> LedgerEntry:
    return LedgerEntry(
        key=f"c:{commission.pk}:accrue",
        account_id=commission.account_id,
        koc_id=commission.koc_id,
        kind=LedgerEntry.Kind.ACCRUAL,
        from_bucket=Bucket.EARNED,
        to_bucket=Bucket.PENDING,
        amount_fen=commission.amount_fen,
        commission=commission,
        order_id=commission.order_id,
        explanation=commission.explanation,
    )


def _write_accrual(
    fact: OrderFact, accrual: _Accrual, *, save_fact: bool
) -> tuple[list[Commission], dict[int, Any]]:
    """Write the accrual's rows: the org links, the commissions and their accrual entries, and
    (`save_fact`) the fact itself. On PostgreSQL, all in one statement (data-modifying CTEs):
    the entries take their commission ids from the commissions' RETURNING. Elsewhere, the ORM's
    bulk inserts. Returns (the saved commissions, {account id: None}) when it does not save the
    fact (the reconciliation goes on with them)."""
    if save_fact and connection.vendor == "postgresql":
        _write_accrual_in_one_statement(fact, accrual)
        return [], {}
    if accrual.org_koc_ids:
        OrderOrgLink.objects.bulk_create(
            [OrderOrgLink(order=fact, org_koc_id=k) for k in accrual.org_koc_ids], ignore_conflicts=True
        )
    commissions = accrual.commissions
    if commissions:
        commissions = Commission.objects.bulk_create(commissions)
        if not all(c.pk for c in commissions):  # backends without RETURNING ids (none we run on)
            commissions = list(Commission.objects.filter(order_id=fact.order_id).order_by("pk"))
        LedgerEntry.objects.bulk_create([_accrual_entry(c) for c in commissions])
    if save_fact:
        fact.save()
    return commissions, {c.account_id: None for c in commissions}


def _insert_sql(model, objs, *, ignore_conflicts: bool = False) -> tuple[str, list]:
    """Django's own INSERT of `objs` (all rows in one statement), compiled, not run."""
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    query.insert_values(fields, objs)
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _write_accrual_in_one_statement(fact: OrderFact, accrual: _Accrual) -> None:
    qn = connection.ops.quote_name
    ctes: list[str] = []
    params: list = []
    if accrual.commissions:
        sql, values = _insert_sql(Commission, accrual.commissions)
        ctes.append(f"c AS ({sql} RETURNING id, account_id, koc_id, amount_fen, explanation, order_id)")
        params += values
        # The entries: _accrual_entry's values, the commission's own columns taken from RETURNING.
        template = LedgerEntry(
            kind=LedgerEntry.Kind.ACCRUAL, from_bucket=Bucket.EARNED, to_bucket=Bucket.PENDING
        )
        from_c = {
            "key": "'c:' || c.id || ':accrue'",
            "account_id": "c.account_id",
            "koc_id": "c.koc_id",
            "amount_fen": "c.amount_fen",
            "commission_id": "c.id",
            "order_id": "c.order_id",
            "explanation": "c.explanation",
        }
        columns, selects = [], []
        for field in LedgerEntry._meta.concrete_fields:
            if field.primary_key:
                continue
            columns.append(qn(field.column))
            if field.attname in from_c:
                selects.append(from_c[field.attname])
            else:
                selects.append("%s")
                params.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))
        ctes.append(
            f"e AS (INSERT INTO {qn(LedgerEntry._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(selects)} FROM c ORDER BY c.id)"
        )
    if accrual.org_koc_ids:
        sql, values = _insert_sql(
            OrderOrgLink,
            [OrderOrgLink(order_id=fact.pk, org_koc_id=k) for k in accrual.org_koc_ids],
            ignore_conflicts=True,
        )
        ctes.append(f"o AS ({sql})")
        params += values
    fields = [f for f in OrderFact._meta.concrete_fields if not f.primary_key]
    assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    params += [f.get_db_prep_save(f.pre_save(fact, add=False), connection) for f in fields]
    params.append(fact.pk)
    sql = f"UPDATE {qn(OrderFact._meta.db_table)} SET {assignments} WHERE id = %s"  # noqa: S608
    if ctes:
        sql = "WITH " + ", ".join(ctes) + " " + sql
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _refund_states(fact: OrderFact, refund: RefundFact, *, by_lines: bool) -> tuple[RefundState, RefundState]:
    """The order's refund state just before and just after `refund`, from the refund's own record.

    Each refund carries the order's cumulative refunded amount, units and line fen after it, so its
    share (kept before - kept after) does not depend on when, or in which order, refunds arrive: the
    shares telescope to what the final state keeps. Without line pieces (commissions accrued before
    line refunds existed) every refund counts as an amount refund.
    """
    paid = refund.paid_fen or fact.paid_fen
    after = max(0, min(refund.refunded_fen, paid))
    before = max(0, after - refund.amount_fen)
    if not by_lines:
        return RefundState(refunded_fen=before), RefundState(refunded_fen=after)
    own = {item_id: units for item_id, units in refund.items}
    units_after = {item_id: units for item_id, units in refund.units_after}
    for item_id, units in own.items():
        units_after[item_id] = max(units_after.get(item_id, 0), units)
    units_before = {i: u - own.get(i, 0) for i, u in units_after.items() if u - own.get(i, 0) > 0}
    lines_after = max(refund.lines_fen_after, refund.amount_fen if own else 0)
    lines_before = lines_after - (refund.amount_fen if own else 0)
    return (
        RefundState(refunded_fen=before, lines_fen=lines_before, units=tuple(sorted(units_before.items()))),
        RefundState(refunded_fen=after, lines_fen=lines_after, units=tuple(sorted(units_after.items()))),
    )


def _reverse(fact: OrderFact, refund: RefundFact, commissions: list[Commission], accounts) -> None:
    """Take back from each commission what `refund` refunded of it (engine.kept_fen, before - after)."""
    paid = refund.paid_fen or fact.paid_fen
    by_lines = all(c.lines for c in commissions)
    pieces = [
        tuple((int(i), int(f)) for i, f in c.lines) if by_lines else ((0, c.amount_fen),) for c in commissions
    ]
    quantities = {_int(i.get("item_id")): _int(i.get("quantity")) for i in fact.payload.get("items") or []}
    quantities.setdefault(0, 1)
    cap = fact.cap_fen or paid
    before, after = _refund_states(fact, refund, by_lines=by_lines)
    kept_before = kept_all(pieces, quantities=quantities, state=before, paid_fen=paid, cap_fen=cap)
    kept_after = kept_all(pieces, quantities=quantities, state=after, paid_fen=paid, cap_fen=cap)
    lines_note = "、".join(f"#{i} × {u}" for i, u in refund.items)
    for commission, was, now in zip(commissions, kept_before, kept_after, strict=True):
        left = commission.amount_fen - commission.reversed_fen
        amount = max(0, min(was - now, left))
        if amount == 0:
            continue
        what = f"退货 {lines_note}" if lines_note else "退款"
        entry = move(
            key=f"c:{commission.pk}:reverse:{refund.refund_id}",
            account=accounts[commission.account_id],
            kind=LedgerEntry.Kind.REVERSAL,
            from_bucket=bucket_of(commission),
            to_bucket=Bucket.REVERSED,
            amount_fen=amount,
            commission=commission,
            refund_id=refund.refund_id,
            explanation=(
                f"订单 {fact.order_no} {what} ¥{yuan(refund.amount_fen)}"
                f"（累计退款 ¥{yuan(max(0, min(refund.refunded_fen, paid)))}，实付 ¥{yuan(paid)}），"
                f"冲回 ¥{yuan(amount)}"
            ),
        )
        if entry is None:
            continue
        commission.reversed_fen += amount
        if commission.reversed_fen >= commission.amount_fen:
            commission.status = Commission.Status.REVERSED
        elif commission.status not in (Commission.Status.PENDING, Commission.Status.FROZEN):
            commission.status = after_available_status(commission)
        commission.save(update_fields=["reversed_fen", "status"])


def _freeze(fact: OrderFact, commissions: list[Commission]) -> None:
    """Move what is left of each pending commission to `frozen`, in bulk (the fact lock and the
    `frozen_at` mark make this run once per order; the entries' unique keys are the last word)."""
    available_at = fact.completed_at + timedelta(days=settings.COMMISSION_FREEZE_DAYS)
    until = f"{timezone.localtime(available_at):%Y-%m-%d %H:%M}"
    entries, frozen, emptied = [], [], []
    for commission in commissions:
        if commission.status != Commission.Status.PENDING:
            continue
        left = commission.amount_fen - commission.reversed_fen
        commission.available_at = available_at
        if left <= 0:
            commission.status = Commission.Status.REVERSED
            emptied.append(commission.pk)
            continue
        commission.status = Commission.Status.FROZEN
        frozen.append(commission.pk)
        entries.append(
            LedgerEntry(
                key=f"c:{commission.pk}:freeze",
                account_id=commission.account_id,
                koc_id=commission.koc_id,
                kind=LedgerEntry.Kind.FREEZE,
                from_bucket=Bucket.PENDING,
                to_bucket=Bucket.FROZEN,
                amount_fen=left,
                commission=commission,
                order_id=fact.order_id,
                explanation=f"订单 {fact.order_no} 已完成，售后期内冻结至 {until}",
            )
        )
    LedgerEntry.objects.bulk_create(entries)
    if frozen:
        Commission.objects.filter(pk__in=frozen).update(
            status=Commission.Status.FROZEN, available_at=available_at
        )
    if emptied:
        Commission.objects.filter(pk__in=emptied).update(
            status=Commission.Status.REVERSED, available_at=available_at
        )
