"""Row locks of group buys, always taken in this order so that concurrent flows cannot deadlock:

1. the group (its seat counters move under this row: a conditional UPDATE or SELECT ... FOR UPDATE);
2. the user's campaign usage row (the per-user limit);
3. then the shop's own locks, in the shop's order (SKUs, the order, its refunds).

Every flow that changes a member (join, paid, released, refunded, expiry) takes the group first,
so two of them on one group run one after the other and each sees the other's committed state.
"""

from __future__ import annotations

from .models import Group
from .read_cache import groups_changed


def group_lock(*, group_id: int) -> Group:
    """The group's row, locked: the caller is about to change it, so its cached answer goes at commit."""
    groups_changed([group_id])
    return Group.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=group_id)
