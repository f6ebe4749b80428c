"""Opening and joining groups, and giving a seat back when its order is cancelled.

Stock is held per group, not taken per join. Opening a group takes the leader's units plus one unit
for each free seat off the SKU's shelf at once (`Group.stock_held`); a join hands one held unit to
its order and touches only its group's row, its usage row and its own new rows, so the groups of
a hot campaign do not queue on the SKU's stock row (a joiner buying more than one unit takes the
extra units from the shelf). Units come back to the shelf with the order that owns them (the shop,
on cancellation or refund) and, for the seats nobody took, when the group closes (lifecycle.py). A
seat freed while the group is forming is held again with one unit from the shelf when there is one;
when there is none, the next joiner of that seat takes its unit from the shelf (or is refused
out_of_stock).

A seat is taken with one conditional UPDATE (`joined < size`, forming, before the deadline) that
the database evaluates under the group's row lock, never by reading and then writing. Locks are
taken in lock_objects' order: group, then usage row, then the shelf for extra units. On PostgreSQL
a join's writes are one statement (seat, usage row, order, member) that is its own transaction, so
the group's row is locked for that statement only; elsewhere the join writes its order and member
rows first and takes the contended rows last, in one transaction. Either way a refusal anywhere
(seat, limit, stock, a concurrent join by the same user, a taken order number) leaves nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import Address, User
from apps.core import rawsql
from apps.core.deferred import send_on_commit
from apps.shop import services as shop
from apps.shop.errors import InvalidQuantity, OutOfStock
from apps.shop.models import Brand, Order, Product, Sku
from apps.shop.services.orders import MAX_QUANTITY

from .. import read_cache
from ..errors import AlreadyJoined, CampaignClosed, GroupClosed, GroupFull, LimitExceeded
from ..lock_objects import group_lock
from ..models import Campaign, CampaignUsage, Group, GroupMember

_GROUP = Group._meta.db_table
_USAGE = CampaignUsage._meta.db_table
# Table names from the models; every value is a parameter.


def _units_upsert(rows: str) -> str:
    """The guarded upsert of a user's units in a campaign, for the row `rows` gives: created at the
    quantity, or raised while the sum stays within the limit (the last parameter)."""
    return (
        f"INSERT INTO {_USAGE} (campaign_id, user_id, units) {rows} "
        f"ON CONFLICT (campaign_id, user_id) DO UPDATE SET units = {_USAGE}.units + excluded.units "
        f"WHERE {_USAGE}.units + excluded.units <= %s RETURNING id"
    )


_TAKE_UNITS_SQL = _units_upsert("VALUES (%s, %s, %s)")
_SEAT_WITH_UNIT_SQL = (
    f"UPDATE {_GROUP} SET joined = joined + 1, stock_held = stock_held - 1 "  # noqa: S608
    "WHERE id = %s AND status = %s AND joined < size AND expires_at > %s AND stock_held > 0 "
    "RETURNING joined, stock_held"
)
# The one-statement join (PostgreSQL): the seat with its held unit, then the usage row (from the
# seat's row: a SELECT list types nothing, so each parameter is cast), then the shop's order and
# lines and the member, each inserted only when the one before yielded its row.
_USAGE_AFTER_SEAT_SQL = _units_upsert("SELECT %s::bigint, %s::bigint, %s::integer FROM seat")
ONE_ACTIVE_SEAT = next(
    c.name for c in GroupMember._meta.constraints if c.name.endswith("one_active_seat")
)  # the partial unique index a concurrent second join by the same user runs into
# Raises SQLSTATE P0001 with its argument as the message (migration 0004): the one statement's
# refusals after the seat, so that the statement fails as a whole.
_REFUSE_FUNCTION = "groupbuys_refuse_join"
_SEAT_SQL = (
    f"UPDATE {_GROUP} SET joined = joined + 1 "  # noqa: S608
    "WHERE id = %s AND status = %s AND joined < size AND expires_at > %s RETURNING joined, stock_held"
)


# The join's one read: the group, its campaign, the SKU with its product and brand (the order is
# made from them and they must still be on sale), and whether the buyer already holds a seat. The
# hottest read there is, so it is written out once (apps.core.rawsql); of the product and brand
# only what the order is made of and checked against (on sale, title), the rest stays deferred.
_JOIN_READ_MODELS = (
    Group,
    Campaign,
    Sku,
    (Product, ("brand", "category", "title", "is_active")),
    (Brand, ("is_active",)),
)
_MEMBER = GroupMember._meta.db_table


def _join_read_sql() -> str:
    aliases = ("g", "c", "s", "p", "b")
    columns = ", ".join(rawsql.columns(a, part) for a, part in zip(aliases, _JOIN_READ_MODELS, strict=True))
    models = (Group, Campaign, Sku, Product, Brand)
    tables = {alias: model._meta.db_table for alias, model in zip(aliases, models, strict=True)}
    # The active statuses are written into the text, not passed: the partial unique index (one
    # active seat per user and group) is then provably usable in the prepared statement's generic
    # plan; with parameters PostgreSQL could not prove it and planned the read anew every time.
    active = ", ".join(f"'{status.value}'" for status in GroupMember.ACTIVE)
    return (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {_MEMBER} m WHERE m.group_id = g.id "  # noqa: S608
        f"AND m.user_id = %s AND m.status IN ({active})) "
        f"FROM {tables['g']} g JOIN {tables['c']} c ON c.id = g.campaign_id "
        f"JOIN {tables['s']} s ON s.id = c.sku_id JOIN {tables['p']} p ON p.id = s.product_id "
        f"JOIN {tables['b']} b ON b.id = p.brand_id WHERE g.id = %s"
    )


_JOIN_READ_SQL = _join_read_sql()


def _group_for_join(*, group_id: int, buyer: User) -> Group:
    """The group with campaign, SKU, product and brand, and `already_joined`; DoesNotExist if none."""
    found = rawsql.read_joined(
        _JOIN_READ_SQL,
        [buyer.pk, group_id],
        _JOIN_READ_MODELS,
    )
    if found is None:
        raise Group.DoesNotExist("Group matching query does not exist.")
    (group, campaign, sku, product, brand), (already_joined,) = found
    rawsql.link(product, "brand", brand)
    rawsql.link(sku, "product", product)
    rawsql.link(campaign, "sku", sku)
    rawsql.link(group, "campaign", campaign)
    group.already_joined = bool(already_joined)
    return group


def _check_quantity(quantity) -> None:
    valid = isinstance(quantity, int) and not isinstance(quantity, bool) and 1 <= quantity <= MAX_QUANTITY
    if not valid:
        message = gettext("The quantity must be 1 to %(max)s.") % {"max": MAX_QUANTITY}
        raise InvalidQuantity(message, fields={"quantity": [message]})


def campaign_is_open(campaign: Campaign, now: datetime) -> bool:
    return campaign.is_active and campaign.starts_at <= now < campaign.ends_at


def group_is_joinable(group: Group, now: datetime) -> bool:
    return group.status == Group.Status.FORMING and group.expires_at > now and group.campaign.is_active


def _limit_exceeded(campaign: Campaign) -> LimitExceeded:
    return LimitExceeded(
        gettext("This campaign sells at most %(limit)s per person.") % {"limit": campaign.per_user_limit}
    )


def _take_units(*, campaign: Campaign, user: User, quantity: int) -> None:
    """Count `quantity` against the user's limit in the campaign, or refuse with limit_exceeded.

    One guarded upsert on the user's usage row (created at 0 + quantity, or raised while the sum
    stays within the limit): two concurrent joins by one user cannot both pass.
    """
    if quantity > campaign.per_user_limit:
        raise _limit_exceeded(campaign)
    with rawsql.cursor() as cursor:
        cursor.execute(_TAKE_UNITS_SQL, [campaign.pk, user.pk, quantity, campaign.per_user_limit])
        if cursor.fetchone() is None:
            raise _limit_exceeded(campaign)


def give_back_units(*, campaign_id: int, user_id: int, quantity: int) -> None:
    CampaignUsage.objects.filter(campaign_id=campaign_id, user_id=user_id, units__gte=quantity).update(
        units=F("units") - quantity
    )


def _take_seat(*, group: Group, now: datetime) -> bool:
    """Take a seat with one conditional UPDATE, and with it one of the units the group holds.

    True when the seat came with a held unit, False when the group holds none (a seat freed while
    the shelf was empty): the joiner's units then all come from the shelf. `group.joined` and
    `group.stock_held` are set from the row as updated. Refuses group_closed or group_full.
    """
    params = [group.pk, Group.Status.FORMING.value, connection.ops.adapt_datetimefield_value(now)]
    with rawsql.cursor() as cursor:
        cursor.execute(_SEAT_WITH_UNIT_SQL, params)
        row = cursor.fetchone()
        with_unit = row is not None
        if row is None:
            cursor.execute(_SEAT_SQL, params)
            row = cursor.fetchone()
    if row is None:
        group.refresh_from_db(fields=["status", "expires_at", "joined", "stock_held"])
        if group.status != Group.Status.FORMING or group.expires_at <= now:
            raise GroupClosed()
        raise GroupFull()
    group.joined, group.stock_held = row
    return with_unit


def _group_order_draft(
    *,
    group: Group,
    buyer: User,
    quantity: int,
    address: Address,
    share_code: str | None,
    price_fen: int,
) -> tuple[Order, list]:
    """The member's shop order at the group price, drafted (reads only; `shop.order_insert` or the
    one-statement join stores it). Its units come from the group's hold and the shelf, taken by
    the caller; the SKU was read with the campaign."""
    campaign = group.campaign
    return shop.order_draft(
        buyer=buyer,
        items=[(campaign.sku_id, quantity)],
        address=address,
        share_code=share_code,
        kind=Order.Kind.GROUP_BUY,
        group_id=group.pk,
        unit_price_overrides={campaign.sku_id: price_fen},
        hold_shipping=True,
        skus={campaign.sku_id: campaign.sku},
    )


def _member(*, group: Group, user: User, order: Order, quantity: int, price_fen: int, is_leader: bool):
    return GroupMember(
        group=group,
        user=user,
        order=order,
        is_leader=is_leader,
        quantity=quantity,
        unit_price_fen=price_fen,
        status=GroupMember.Status.HELD,
    )


def _add_member(*, group: Group, user: User, order: Order, quantity: int, price_fen: int, is_leader: bool):
    # Every value was checked or read in this transaction (quantity, price, the group, the order);
    # the database checks the constraints on insert. Stored with one precompiled INSERT (no
    # post_save): the group's cached answer, which the signal would refresh, is refreshed here.
    member = _member(
        group=group, user=user, order=order, quantity=quantity, price_fen=price_fen, is_leader=is_leader
    )
    try:
        with transaction.atomic(savepoint=False):
            rawsql.insert(member)
    except IntegrityError as exc:
        # The partial unique index (one active seat per user and group) caught a concurrent join
        # by the same user: this whole transaction, seat included, rolls back.
        raise AlreadyJoined() from exc
    read_cache.groups_changed([group.pk])
    return member


def _with_sku(queryset):
    return queryset.select_related("sku__product__brand")


@transaction.atomic
def group_open(
    *,
    campaign: Campaign,
    leader: User,
    quantity: int,
    address: Address,
    share_code: str | None = None,
    now: datetime | None = None,
) -> tuple[Group, Order]:
    """Open a new group with the caller as its leader holding the first seat; creates their order.

    The leader's units and one unit for each other seat are taken off the shelf now: a SKU without
    enough stock for the whole group refuses with out_of_stock (and nothing is written). The group
    runs for the campaign's duration, but never past the campaign's end. Its expiry is scheduled
    for that moment (after commit); the beat sweeper catches it if the task is lost.
    """
    now = now or timezone.now()
    _check_quantity(quantity)
    campaign = _with_sku(Campaign.objects.select_related("product")).get(pk=campaign.pk)
    if not campaign_is_open(campaign, now):
        raise CampaignClosed()
    expires_at = min(now + timedelta(minutes=campaign.duration_minutes), campaign.ends_at)
    held = campaign.group_size - 1
    group = Group(
        campaign=campaign,
        leader=leader,
        status=Group.Status.FORMING,
        size=campaign.group_size,
        joined=1,
        paid_count=0,
        stock_held=held,
        expires_at=expires_at,
    )
    group.full_clean()
    group.save()
    # The group is new (no one else can lock it): usage row, then the shelf, then the order.
    _take_units(campaign=campaign, user=leader, quantity=quantity)
    if not shop.stock_take(sku_id=campaign.sku_id, product_id=campaign.product_id, quantity=quantity + held):
        sku = campaign.sku
        raise OutOfStock(
            gettext(
                "Not enough stock of %(product)s %(spec)s to open a group: a %(size)s-person group needs "
                "%(needed)s (your %(quantity)s and 1 for each open seat)."
            )
            % {
                "product": sku.product.title,
                "spec": sku.spec,
                "size": campaign.group_size,
                "needed": quantity + held,
                "quantity": quantity,
            }
        )
    price = campaign.price_for(is_leader=True)
    order, lines = _group_order_draft(
        group=group, buyer=leader, quantity=quantity, address=address, share_code=share_code, price_fen=price
    )
    shop.order_insert(order, lines)
    _add_member(group=group, user=leader, order=order, quantity=quantity, price_fen=price, is_leader=True)

    from ..tasks import expire_group

    # A group lasts hours (24 in the demo), beyond the broker's visibility timeout: such an expiry
    # is not queued (Redis would redeliver it again and again); the minute sweeper does it.
    send_on_commit(expire_group, group.pk, eta=expires_at)
    return group, order


def group_join(
    *,
    group: Group,
    buyer: User,
    quantity: int,
    address: Address,
    share_code: str | None = None,
    now: datetime | None = None,
) -> tuple[Group, Order]:
    """Take a seat in a forming group and create the buyer's order at the group price.

    Refusals: group_closed (not forming, past its deadline, campaign switched off), already_joined
    (the buyer holds a seat here, leader included), group_full, limit_exceeded, out_of_stock (the
    units beyond the seat's held one, or a seat the group could not hold a unit for).

    The reads come first, outside any transaction (the group with what the order is made of, the
    order's draft with its attribution): none of them needs a lock, and the conditional writes
    re-check everything that matters. Then the writes, all or nothing (`_join_write`): on
    PostgreSQL one statement, elsewhere the order and its line, the member, then the contended
    rows in one transaction.
    """
    now = now or timezone.now()
    _check_quantity(quantity)
    group = _group_for_join(group_id=group.pk, buyer=buyer)
    campaign = group.campaign
    if not group_is_joinable(group, now):
        raise GroupClosed()
    if group.already_joined:
        raise AlreadyJoined()
    if group.joined >= group.size:
        # Fast refusal from the committed state, without queueing for the row lock; the seat itself
        # is only ever taken by the conditional UPDATE below.
        raise GroupFull()
    if quantity > campaign.per_user_limit:
        raise _limit_exceeded(campaign)
    price = campaign.price_for(is_leader=False)
    order, lines = _group_order_draft(
        group=group, buyer=buyer, quantity=quantity, address=address, share_code=share_code, price_fen=price
    )
    for _draw in range(shop.ORDER_NUMBER_DRAWS):
        try:
            _join_write(
                group=group, buyer=buyer, quantity=quantity, order=order, lines=lines, price=price, now=now
            )
            return group, order
        except shop.OrderNumberTaken:
            continue  # rolled back: the next draw
    raise IntegrityError(f"no free order number in {shop.ORDER_NUMBER_DRAWS} draws")


def _join_write(
    *, group: Group, buyer: User, quantity: int, order: Order, lines: list, price: int, now: datetime
) -> None:
    """The join's writes, all or nothing. On PostgreSQL, for one unit and outside any caller's
    transaction, one statement that is its own transaction (no BEGIN and COMMIT round trips);
    otherwise in a transaction (a savepoint inside the caller's)."""
    one_statement = connection.vendor == "postgresql"
    if one_statement and quantity == 1 and connection.get_autocommit():
        if _join_in_one_statement(
            group=group, buyer=buyer, quantity=quantity, order=order, lines=lines, price=price, now=now
        ):
            return
        one_statement = False  # nothing was written: statement by statement tells why
    with transaction.atomic():
        _join_in_transaction(
            group=group,
            buyer=buyer,
            quantity=quantity,
            order=order,
            lines=lines,
            price=price,
            now=now,
            one_statement=one_statement,
        )


def _join_in_transaction(
    *,
    group: Group,
    buyer: User,
    quantity: int,
    order: Order,
    lines: list,
    price: int,
    now: datetime,
    one_statement: bool,
) -> None:
    campaign = group.campaign
    if one_statement and _join_in_one_statement(
        group=group, buyer=buyer, quantity=quantity, order=order, lines=lines, price=price, now=now
    ):
        with_unit = True
    else:
        # Statement by statement (SQLite, or a seat that comes without a held unit): the order
        # and member first, then the contended rows, last and in lock order: the group's (the
        # seat and its held unit), the user's usage row, then the shelf for any unit the group
        # did not hold.
        shop.order_insert(order, lines)
        _add_member(group=group, user=buyer, order=order, quantity=quantity, price_fen=price, is_leader=False)
        with_unit = _take_seat(group=group, now=now)
        _take_units(campaign=campaign, user=buyer, quantity=quantity)
    from_shelf = quantity - 1 if with_unit else quantity
    if from_shelf and not shop.stock_take(
        sku_id=campaign.sku_id, product_id=campaign.product_id, quantity=from_shelf
    ):
        sku = campaign.sku
        raise OutOfStock(
            gettext("Not enough stock of %(product)s %(spec)s.")
            % {"product": sku.product.title, "spec": sku.spec}
        )


def _join_in_one_statement(
    *, group: Group, buyer: User, quantity: int, order: Order, lines: list, price: int, now: datetime
) -> bool:
    """The join's writes as one statement (PostgreSQL): the seat with one of the units the group
    holds, the buyer's usage row, the order and its lines, the member; each inserted only when
    the one before yielded its row, in the lock order of the statement-by-statement path (group,
    usage row). One round trip instead of five, and the group's row is locked for that statement
    (and its commit) only.

    The statement succeeds whole or fails whole: when the seat was taken but the usage row or the
    order was not (the limit, a taken order number), it raises (`groupbuys_refuse_join`) and
    PostgreSQL undoes the seat with the rest. So it can run as its own transaction.

    False when no seat came with a held unit (full, closed, or none held): nothing was written,
    and the caller goes statement by statement (which tells those apart). Raises limit_exceeded,
    already_joined (the partial unique index), or OrderNumberTaken.
    """
    campaign = group.campaign
    order_parts, order_params = shop.order_insert_parts(order, lines, after="usage")
    member = _member(
        group=group, user=buyer, order=order, quantity=quantity, price_fen=price, is_leader=False
    )
    member_sql, member_params = rawsql.insert_from(
        member, source=shop.NEW_ORDER, taken={"order_id": f"{shop.NEW_ORDER}.id"}
    )
    parts = [f"seat AS ({_SEAT_WITH_UNIT_SQL})", f"usage AS ({_USAGE_AFTER_SEAT_SQL})", *order_parts]
    sql = (
        f"WITH {', '.join(parts)}, new_member AS ({member_sql}) "  # noqa: S608 (names and parameters)
        f"SELECT seat.joined, seat.stock_held, (SELECT id FROM {shop.NEW_ORDER}), "
        "(SELECT id FROM new_member), "
        "CASE WHEN seat.joined IS NOT NULL AND NOT EXISTS (SELECT 1 FROM new_member) "
        f"THEN {_REFUSE_FUNCTION}(CASE WHEN EXISTS (SELECT 1 FROM usage) "
        "THEN 'order_number_taken' ELSE 'limit_exceeded' END) END "
        "FROM (SELECT 1) one LEFT JOIN seat ON true"
    )
    params = [group.pk, Group.Status.FORMING.value, now]
    params += [campaign.pk, buyer.pk, quantity, campaign.per_user_limit]
    params += order_params + member_params
    try:
        with rawsql.cursor() as cursor:
            cursor.execute(sql, params)
            joined, stock_held, order_id, member_id, _refused = cursor.fetchone()
    except DatabaseError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if isinstance(exc, IntegrityError) and getattr(diag, "constraint_name", None) == ONE_ACTIVE_SEAT:
            raise AlreadyJoined() from exc  # a concurrent join by the same user
        reason = (
            getattr(diag, "message_primary", None) if getattr(diag, "sqlstate", None) == "P0001" else None
        )
        if reason == "limit_exceeded":
            raise _limit_exceeded(campaign) from exc
        if reason == "order_number_taken":
            raise shop.OrderNumberTaken() from exc
        raise
    if joined is None:
        return False
    shop.order_stored(order, lines, order_id)
    rawsql.stored(member, member_id)
    group.joined, group.stock_held = joined, stock_held
    read_cache.groups_changed([group.pk])
    return True


def _member_group_id(order_id: int) -> int | None:
    return GroupMember.objects.filter(order_id=order_id).values_list("group_id", flat=True).first()


def leave_seat(*, group: Group, member: GroupMember, status: str, now: datetime) -> None:
    """Move an active member out of the group (released or refunded); counters follow, units back.

    The member's units go back to the shelf with their order (the shop does that). While the group
    is forming and before its deadline, the freed seat is held again with one unit from the shelf
    when there is one. Runs under the group's row lock (the caller holds it and passes the group
    as locked, its status current); then the usage row, then the shelf (lock_objects).
    """
    was_paid = member.status == GroupMember.Status.PAID
    member.status = status
    if status == GroupMember.Status.RELEASED:
        member.released_at = now
        fields = ["status", "released_at"]
    else:
        member.refunded_at = now
        fields = ["status", "refunded_at", "refund_id"]
    member.save(update_fields=fields)
    give_back_units(campaign_id=group.campaign_id, user_id=member.user_id, quantity=member.quantity)
    changes = {"joined": F("joined") - 1}
    if was_paid:
        changes["paid_count"] = F("paid_count") - 1
    reopened = group.status == Group.Status.FORMING and group.expires_at > now
    if reopened and shop.stock_take(
        sku_id=group.campaign.sku_id, product_id=group.campaign.product_id, quantity=1
    ):
        changes["stock_held"] = F("stock_held") + 1
    Group.objects.filter(pk=group.pk, joined__gt=0).update(**changes)


def return_held_stock(*, group: Group) -> None:
    """The group closed: the units it held for seats nobody took go back on the shelf. Under the
    group's row lock, `group` as locked (its stock_held current); a second call finds none."""
    held = group.stock_held
    if held:
        Group.objects.filter(pk=group.pk, stock_held=held).update(stock_held=0)
        shop.stock_return(sku_id=group.campaign.sku_id, product_id=group.campaign.product_id, quantity=held)
        group.stock_held = 0


@transaction.atomic
def seat_release(*, order_id: int, now: datetime | None = None) -> bool:
    """The member's order was cancelled (unpaid past its deadline, or by the buyer): free the seat.

    Idempotent: only a held seat is released; anything else answers False and changes nothing.
    """
    group_id = _member_group_id(order_id)
    if group_id is None:
        return False
    group = group_lock(group_id=group_id)
    member = GroupMember.objects.get(order_id=order_id)
    if member.status != GroupMember.Status.HELD:
        return False
    leave_seat(group=group, member=member, status=GroupMember.Status.RELEASED, now=now or timezone.now())
    return True
