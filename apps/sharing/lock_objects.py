"""Row locks of the sharing app, taken in this order when a flow needs more than one:

1. a share link (its QR code and poster are made under it, so WeChat is asked once per link; its
   counters are recounted under it);
2. a link's order row (ShareLinkOrder), or a customer's binding.

On SQLite select_for_update is a no-op; the database runs IMMEDIATE transactions there, so writers
are serialised anyway.
"""

from __future__ import annotations

from .models import CustomerBinding, ShareLink


def share_link_lock(*, link_id: int) -> ShareLink:
    return ShareLink.objects.select_for_update(of=("self",)).select_related("sharer").get(pk=link_id)


def share_link_lock_if_exists(*, link_id: int) -> ShareLink | None:
    """The link's row lock, or None when the link is gone (a deleted link counts nothing)."""
    return ShareLink.objects.select_for_update(of=("self",)).filter(pk=link_id).first()


def binding_lock(*, customer_id: int) -> CustomerBinding | None:
    return (
        CustomerBinding.objects.select_for_update(of=("self",))
        .select_related("koc")
        .filter(customer_id=customer_id)
        .first()
    )
