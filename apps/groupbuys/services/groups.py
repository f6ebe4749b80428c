"""Opening and joining groups, and giving a seat back when its order is cancelled.

A seat is taken with one conditional UPDATE (`joined < size`, forming, before the deadline) that
the database evaluates under the group's row lock, never by reading and then writing; the member
row, the per-user units and the shop order are written in the same transaction, so a refusal
anywhere (limit, stock) rolls the seat back with everything else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Address, User
from apps.core.deferred import send_on_commit
from apps.shop import services as shop
from apps.shop.errors import InvalidQuantity
from apps.shop.models import Order
from apps.shop.services.orders import MAX_QUANTITY

from ..errors import AlreadyJoined, CampaignClosed, GroupClosed, GroupFull, LimitExceeded
from ..lock_objects import group_lock
from ..models import Campaign, CampaignUsage, Group, GroupMember


def _check_quantity(quantity) -> None:
    valid = isinstance(quantity, int) and not isinstance(quantity, bool) and 1 <= quantity <= MAX_QUANTITY
    if not valid:
        message = f"购买数量须为 1 到 {MAX_QUANTITY}"
        raise InvalidQuantity(message, fields={"quantity": [message]})


def campaign_is_open(campaign: Campaign, now: datetime) -> bool:
    return campaign.is_active and campaign.starts_at <= now < campaign.ends_at


def group_is_joinable(group: Group, now: datetime) -> bool:
    return group.status == Group.Status.FORMING and group.expires_at > now and group.campaign.is_active


def _take_units(*, campaign: Campaign, user: User, quantity: int) -> None:
    """Count `quantity` against the user's limit in the campaign, or refuse with limit_exceeded.

    A guarded UPDATE on the user's usage row: two concurrent joins by one user cannot both pass.
    """
    CampaignUsage.objects.bulk_create(
        [CampaignUsage(campaign=campaign, user=user, units=0)], ignore_conflicts=True
    )
    taken = CampaignUsage.objects.filter(
        campaign=campaign, user=user, units__lte=campaign.per_user_limit - quantity
    ).update(units=F("units") + quantity)
    if not taken:
        raise LimitExceeded(f"该活动每人限购 {campaign.per_user_limit} 件")


def give_back_units(*, campaign_id: int, user_id: int, quantity: int) -> None:
    CampaignUsage.objects.filter(campaign_id=campaign_id, user_id=user_id, units__gte=quantity).update(
        units=F("units") - quantity
    )


def _group_order(
    *, group: Group, buyer: User, quantity: int, address: Address, share_code: str | None, price_fen: int
) -> Order:
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
    )


def _add_member(*, group: Group, user: User, order: Order, quantity: int, price_fen: int, is_leader: bool):
    member = GroupMember(
        group=group,
        user=user,
        order=order,
        is_leader=is_leader,
        quantity=quantity,
        unit_price_fen=price_fen,
        status=GroupMember.Status.HELD,
    )
    # The foreign keys were just read or created in this transaction: no need to query them again
    # while the group's row is locked; the database checks uniqueness and constraints on insert.
    member.full_clean(exclude=["group", "user", "order"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        # The partial unique index (one active seat per user and group) caught a concurrent join
        # by the same user: this whole transaction, seat included, rolls back.
        raise AlreadyJoined() from exc
    return member


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

    The group runs for the campaign's duration, but never past the campaign's end. Its expiry is
    scheduled for that moment (after commit); the beat sweeper catches it if the task is lost.
    """
    now = now or timezone.now()
    _check_quantity(quantity)
    campaign = Campaign.objects.select_related("sku", "product").get(pk=campaign.pk)
    if not campaign_is_open(campaign, now):
        raise CampaignClosed()
    expires_at = min(now + timedelta(minutes=campaign.duration_minutes), campaign.ends_at)
    group = Group(
        campaign=campaign,
        leader=leader,
        status=Group.Status.FORMING,
        size=campaign.group_size,
        joined=1,
        paid_count=0,
        expires_at=expires_at,
    )
    group.full_clean()
    group.save()
    _take_units(campaign=campaign, user=leader, quantity=quantity)
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
    (the buyer holds a seat here, leader included), group_full, limit_exceeded, out_of_stock.
    """
    now = now or timezone.now()
    _check_quantity(quantity)
    group = Group.objects.select_related("campaign").get(pk=group.pk)
    campaign = group.campaign
    if not group_is_joinable(group, now):
        raise GroupClosed()
    if GroupMember.objects.filter(group=group, user=buyer, status__in=GroupMember.ACTIVE).exists():
        raise AlreadyJoined()
    if group.joined >= group.size:
        # Fast refusal from the committed state, without queueing for the row lock; the seat itself
        # is only ever taken by the conditional UPDATE below.
        raise GroupFull()
    held = Group.objects.filter(
        pk=group.pk, status=Group.Status.FORMING, joined__lt=F("size"), expires_at__gt=now
    ).update(joined=F("joined") + 1)
    if not held:
        group.refresh_from_db()
        if group.status != Group.Status.FORMING or group.expires_at <= now:
            raise GroupClosed()
        raise GroupFull()
    # The group row is now locked by this transaction: the usage row comes second (lock_objects).
    _take_units(campaign=campaign, user=buyer, quantity=quantity)
    price = campaign.price_for(is_leader=False)
    order = _group_order(
        group=group, buyer=buyer, quantity=quantity, address=address, share_code=share_code, price_fen=price
    )
    _add_member(group=group, user=buyer, order=order, quantity=quantity, price_fen=price, is_leader=False)
    group.refresh_from_db()
    return group, order


def _member_group_id(order_id: int) -> int | None:
    return GroupMember.objects.filter(order_id=order_id).values_list("group_id", flat=True).first()


def leave_seat(*, member: GroupMember, status: str, now: datetime) -> None:
    """Move an active member out of the group (released or refunded); counters follow, units back.

    Runs under the group's row lock (the caller holds it).
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
    changes = {"joined": F("joined") - 1}
    if was_paid:
        changes["paid_count"] = F("paid_count") - 1
    Group.objects.filter(pk=member.group_id, joined__gt=0).update(**changes)
    give_back_units(campaign_id=member.group.campaign_id, user_id=member.user_id, quantity=member.quantity)


@transaction.atomic
def seat_release(*, order_id: int, now: datetime | None = None) -> bool:
    """The member's order was cancelled (unpaid past its deadline, or by the buyer): free the seat.

    Idempotent: only a held seat is released; anything else answers False and changes nothing.
    """
    group_id = _member_group_id(order_id)
    if group_id is None:
        return False
    group_lock(group_id=group_id)
    member = GroupMember.objects.select_related("group").get(order_id=order_id)
    if member.status != GroupMember.Status.HELD:
        return False
    leave_seat(member=member, status=GroupMember.Status.RELEASED, now=now or timezone.now())
    return True
