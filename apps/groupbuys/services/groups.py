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
the database evaluates under the group's row lock, never by reading and then writing. The join
writes its order and member rows first and takes the contended rows last (group, then usage row,
then the shelf for extra units: lock_objects' order), so the group's row is locked only for the
last statements before commit. Everything is one transaction: a refusal anywhere (seat, limit,
stock, a concurrent join by the same user) rolls it all back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import Address, User
from apps.core.deferred import send_on_commit
from apps.shop import services as shop
from apps.shop.errors import InvalidQuantity, OutOfStock
from apps.shop.models import Brand, Order, Product, Sku
from apps.shop.services.orders import MAX_QUANTITY

from ..errors import AlreadyJoined, CampaignClosed, GroupClosed, GroupFull, LimitExceeded
from ..lock_objects import group_lock
from ..models import Campaign, CampaignUsage, Group, GroupMember

_GROUP = Group._meta.db_table
_USAGE = CampaignUsage._meta.db_table
# Table names from the models; every value is a parameter.
_TAKE_UNITS_SQL = (
    f"INSERT INTO {_USAGE} (campaign_id, user_id, units) VALUES (%s, %s, %s) "  # noqa: S608
    f"ON CONFLICT (campaign_id, user_id) DO UPDATE SET units = {_USAGE}.units + excluded.units "
    f"WHERE {_USAGE}.units + excluded.units <= %s RETURNING id"
)
_SEAT_WITH_UNIT_SQL = (
    f"UPDATE {_GROUP} SET joined = joined + 1, stock_held = stock_held - 1 "  # noqa: S608
    "WHERE id = %s AND status = %s AND joined < size AND expires_at > %s AND stock_held > 0 "
    "RETURNING joined, stock_held"
)
_SEAT_SQL = (
    f"UPDATE {_GROUP} SET joined = joined + 1 "  # noqa: S608
    "WHERE id = %s AND status = %s AND joined < size AND expires_at > %s RETURNING joined, stock_held"
)


# The join's one read: the group, its campaign, the SKU with its product and brand (the order is
# made from them and they must still be on sale), and whether the buyer already holds a seat. The
# hottest read there is, so it is written out once, with the columns of each model in _meta order,
# and the rows are turned into model instances with the ORM's own converters (as select_related
# would, without compiling the query on every join).
_JOIN_READ_MODELS = (("g", Group), ("c", Campaign), ("s", Sku), ("p", Product), ("b", Brand))
_MEMBER = GroupMember._meta.db_table


def _join_read_sql() -> str:
    columns = ", ".join(
        f'{alias}."{field.column}"'
        for alias, model in _JOIN_READ_MODELS
        for field in model._meta.concrete_fields
    )
    tables = {alias: model._meta.db_table for alias, model in _JOIN_READ_MODELS}
    return (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {_MEMBER} m WHERE m.group_id = g.id "  # noqa: S608
        "AND m.user_id = %s AND m.status IN (%s, %s)) "
        f"FROM {tables['g']} g JOIN {tables['c']} c ON c.id = g.campaign_id "
        f"JOIN {tables['s']} s ON s.id = c.sku_id JOIN {tables['p']} p ON p.id = s.product_id "
        f"JOIN {tables['b']} b ON b.id = p.brand_id WHERE g.id = %s"
    )


_JOIN_READ_SQL = _join_read_sql()
_converters: dict[str, list] = {}


def _join_read_converters() -> list:
    """Per column: the (converter, expression) pairs the ORM would apply, for this backend."""
    vendor = connection.vendor
    if vendor not in _converters:
        per_column = []
        for alias, model in _JOIN_READ_MODELS:
            for field in model._meta.concrete_fields:
                column = field.get_col(alias)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                per_column.append([(converter, column) for converter in found])
        _converters[vendor] = per_column
    return _converters[vendor]


def _group_for_join(*, group_id: int, buyer: User) -> Group:
    """The group with campaign, SKU, product and brand, and `already_joined`; DoesNotExist if none."""
    with connection.cursor() as cursor:
        cursor.execute(
            _JOIN_READ_SQL, [buyer.pk, GroupMember.Status.HELD.value, GroupMember.Status.PAID.value, group_id]
        )
        row = cursor.fetchone()
    if row is None:
        raise Group.DoesNotExist("Group matching query does not exist.")
    values = list(row[:-1])
    for index, converters in enumerate(_join_read_converters()):
        for converter, column in converters:
            values[index] = converter(values[index], column, connection)
    instances, start = [], 0
    for _alias, model in _JOIN_READ_MODELS:
        count = len(model._meta.concrete_fields)
        instances.append(model.from_db(connection.alias, None, values[start : start + count]))
        start += count
    group, campaign, sku, product, brand = instances
    product.brand = brand
    sku.product = product
    campaign.sku = sku
    group.campaign = campaign
    group.already_joined = bool(row[-1])
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
    with connection.cursor() as cursor:
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
    with connection.cursor() as cursor:
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


def _group_order(
    *,
    group: Group,
    buyer: User,
    quantity: int,
    address: Address,
    share_code: str | None,
    price_fen: int,
) -> Order:
    """The member's shop order at the group price. Its units come from the group's hold and the
    shelf, taken by the caller in this transaction; the SKU was read with the campaign."""
    campaign = group.campaign
    return shop.order_create(
        buyer=buyer,
        items=[(campaign.sku_id, quantity)],
        address=address,
        share_code=share_code,
        kind=Order.Kind.GROUP_BUY,
        group_id=group.pk,
        unit_price_overrides={campaign.sku_id: price_fen},
        hold_shipping=True,
        stock_taken=True,
        skus={campaign.sku_id: campaign.sku},
        savepoint=False,
    )


def _add_member(*, group: Group, user: User, order: Order, quantity: int, price_fen: int, is_leader: bool):
    # Every value was checked or read in this transaction (quantity, price, the group, the order);
    # the database checks the constraints on insert.
    member = GroupMember(
        group=group,
        user=user,
        order=order,
        is_leader=is_leader,
        quantity=quantity,
        unit_price_fen=price_fen,
        status=GroupMember.Status.HELD,
    )
    try:
        with transaction.atomic(savepoint=False):
            member.save(force_insert=True)
    except IntegrityError as exc:
        # The partial unique index (one active seat per user and group) caught a concurrent join
        # by the same user: this whole transaction, seat included, rolls back.
        raise AlreadyJoined() from exc
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
    order = _group_order(
        group=group, buyer=leader, quantity=quantity, address=address, share_code=share_code, price_fen=price
    )
    _add_member(group=group, user=leader, order=order, quantity=quantity, price_fen=price, is_leader=True)

    from ..tasks import expire_group

    # A group lasts hours (24 in the demo), beyond the broker's visibility timeout: such an expiry
    # is not queued (Redis would redeliver it again and again); the minute sweeper does it.
    send_on_commit(expire_group, group.pk, eta=expires_at)
    return group, order


@transaction.atomic
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
    order = _group_order(
        group=group, buyer=buyer, quantity=quantity, address=address, share_code=share_code, price_fen=price
    )
    _add_member(group=group, user=buyer, order=order, quantity=quantity, price_fen=price, is_leader=False)
    # The contended rows, last and in lock order: the group's (the seat and its held unit), the
    # user's usage row, then the shelf for any unit the group did not hold.
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
    return group, order


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
