from __future__ import annotations

from .models import Address, User


def user_is_koc(user: User) -> bool:
    """True for an approved KOC. The KOC app hangs its profile on the user as `koc`."""
    koc = getattr(user, "koc", None)
    return bool(koc is not None and getattr(koc, "is_approved", False))


def address_list(*, user: User):
    return Address.objects.filter(user=user)


def address_get(*, user: User, address_id: int) -> Address | None:
    """The user's own address, or None: another user's id is indistinguishable from a missing one."""
    return Address.objects.filter(user=user, pk=address_id).first()
