"""What the admin's `koc`, `user` and `order` ids read as (apps/core/admin_names.py), wired here, in the
top layer, because the apps whose rows carry those ids (shop, commissions) may not import the KOCs."""

from __future__ import annotations

import re

from django.db.models import Q
from django.urls import reverse

from apps.accounts.models import User
from apps.core import admin_names
from apps.core.admin_names import Named
from apps.core.masking import mask_phone
from apps.kocs.models import Koc
from apps.shop.models import Order

_DIGITS = re.compile(r"^\+?[0-9 -]{4,}$")


def _phone_digits(term: str) -> str | None:
    return re.sub(r"[^0-9]", "", term) if _DIGITS.match(term) else None


def koc_names(ids: list[int]) -> dict[int, Named]:
    return {
        koc.pk: Named(
            name=koc.display_name,
            detail=mask_phone(koc.user.phone) if koc.user_id and koc.user.phone else koc.invite_code,
            url=reverse("admin:kocs_koc_change", args=[koc.pk]),
        )
        for koc in Koc.objects.filter(pk__in=ids).select_related("user")
    }


def koc_search(term: str):
    if term.isdigit():  # an id or a phone: the name columns are not searched for digits
        digits = _phone_digits(term)
        return Koc.objects.filter(user__phone__contains=digits).values("pk") if digits else None
    match = (
        Q(user__nickname__icontains=term)
        | Q(real_name=term)
        | Q(legal_name__icontains=term)
        | Q(invite_code__iexact=term)
    )
    digits = _phone_digits(term)
    if digits:
        match |= Q(user__phone__contains=digits)
    return Koc.objects.filter(match).values("pk")


def user_names(ids: list[int]) -> dict[int, Named]:
    return {
        user.pk: Named(
            name=user.nickname or user.username,
            detail=mask_phone(user.phone),
            url=reverse("admin:accounts_user_change", args=[user.pk]),
        )
        for user in User.objects.filter(pk__in=ids)
    }


def user_search(term: str):
    if term.isdigit():
        digits = _phone_digits(term)
        return User.objects.filter(phone__contains=digits).values("pk") if digits else None
    match = Q(nickname__icontains=term) | Q(username__iexact=term)
    digits = _phone_digits(term)
    if digits:
        match |= Q(phone__contains=digits)
    return User.objects.filter(match).values("pk")


def order_names(ids: list[int]) -> dict[int, Named]:
    return {
        pk: Named(name=no, url=reverse("admin:shop_order_change", args=[pk]))
        for pk, no in Order.objects.filter(pk__in=ids).values_list("pk", "no")
    }


def order_search(term: str):
    return Order.objects.filter(no=term).values("pk")


def register() -> None:
    admin_names.register("koc", resolve=koc_names, search=koc_search)
    admin_names.register("user", resolve=user_names, search=user_search)
    admin_names.register("order", resolve=order_names, search=order_search)
