"""The cached answer of `GET share-links/{code}` and what invalidates it (scheme: apps.core.readcache).

Only the answer is cached, never the visit: every request still counts its viewer (the Redis
buffer of services.visits) and, for a signed-in viewer, applies the binding policy. The answer
shows the link's card (title, picture, page) and its sharer's nickname and avatar, so a link's
generation (`rc:sl:<code>`) is bumped after the commit of a save or delete of the link, a card
refresh (`services.links._refreshed`, an UPDATE), and a change of its sharer's nickname or avatar.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from apps.core import readcache

from .models import ShareLink

PROFILE_FIELDS = frozenset({"nickname", "avatar_url"})


def link_gen(code: str) -> str:
    return f"rc:sl:{code}"


def link_detail_key(code: str) -> str:
    return f"rc:body:share-link:{code}"


def links_changed(codes: Iterable[str]) -> None:
    readcache.bump(link_gen(code) for code in set(codes))


def _link_saved(sender, instance: ShareLink, **kwargs) -> None:
    links_changed([instance.code])


def _user_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and not PROFILE_FIELDS & set(update_fields)):
        return
    links_changed(ShareLink.objects.filter(sharer_id=instance.pk).values_list("code", flat=True))


for _signal in (post_save, post_delete):
    _signal.connect(_link_saved, sender=ShareLink, dispatch_uid=f"rc-share-link-{_signal is post_save}")
post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="rc-share-link-sharer")
