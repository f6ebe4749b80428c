"""The cached answer of `GET groups/{id}` and what invalidates it (scheme: apps.core.readcache).

A group's generation (`rc:g:<id>`) is bumped after the commit of any transaction that

- saves or deletes the group or one of its members (opening, joining, paying, leaving: every
  flow saves the member it moves), or
- locks the group's row (`lock_objects.group_lock`): every flow that changes a group's counters
  or status takes that lock first, so a success, a failure or an expiry is caught even when it
  moves the row with UPDATE alone;
- changes the nickname or avatar of one of its paid members (the answer shows them).

The answer also lives no longer than the group's deadline while it is forming: `seats_left`
turns to 0 then, by the clock alone. A campaign's save or delete reaches the catalogue's answers
(its `group_buy` summaries) through apps.shop.read_cache.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from apps.core import readcache
from apps.shop import read_cache as shop_read_cache

from .models import Campaign, Group, GroupMember

PROFILE_FIELDS = frozenset({"nickname", "avatar_url"})


def group_gen(group_id: int) -> str:
    return f"rc:g:{group_id}"


def group_detail_key(group_id: int) -> str:
    return f"rc:body:group:{group_id}"


def groups_changed(group_ids: Iterable[int]) -> None:
    readcache.bump(group_gen(pk) for pk in set(group_ids))


def _group_saved(sender, instance: Group, **kwargs) -> None:
    groups_changed([instance.pk])


def _member_saved(sender, instance: GroupMember, **kwargs) -> None:
    groups_changed([instance.group_id])


def _campaign_saved(sender, instance: Campaign, **kwargs) -> None:
    shop_read_cache.products_changed([instance.product_id])


def _user_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and not PROFILE_FIELDS & set(update_fields)):
        return
    groups_changed(
        GroupMember.objects.filter(user_id=instance.pk, status=GroupMember.Status.PAID).values_list(
            "group_id", flat=True
        )
    )


for _signal in (post_save, post_delete):
    _signal.connect(_group_saved, sender=Group, dispatch_uid=f"rc-group-{_signal is post_save}")
    _signal.connect(_member_saved, sender=GroupMember, dispatch_uid=f"rc-member-{_signal is post_save}")
    _signal.connect(_campaign_saved, sender=Campaign, dispatch_uid=f"rc-campaign-{_signal is post_save}")
post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="rc-group-member-profile")
