"""What a KOC says about itself: its identity (real name, ID number) and its profile."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from apps.accounts.models import User
from apps.core import audit
from apps.core.crypto import lookup_digest
from apps.core.errors import InvalidInput
from apps.shop.models import Category

from .. import identity
from ..errors import (
    IdNumberTaken,
    InvalidIdNumber,
)
from ..lock_objects import lock_koc
from ..models import (
    Koc,
)

Role = Koc.Role
Status = Koc.Status


def identity_fields(id_number: str, *, koc_id: int | None = None) -> dict[str, str]:
    """The ID number's columns: validated (GB 11643), its digest unique to one KOC. Never logged."""
    if not id_number:
        return {}
    number = identity.normalise(id_number)
    if not identity.is_valid(number):
        raise InvalidIdNumber()
    digest = lookup_digest(number)
    taken = Koc.objects.filter(id_number_digest=digest)
    if koc_id is not None:
        taken = taken.exclude(pk=koc_id)
    if taken.exists():
        raise IdNumberTaken()
    return {"id_number": number, "id_number_digest": digest}


@transaction.atomic
def koc_identity_set(*, koc: Koc, real_name: str, id_number: str, by: User | None = None) -> Koc:
    """An individual's identity for tax withholding (POST koc/identity, or an operator in the admin).

    The number is checked (GB 11643 check digit, a real birth date), stored encrypted, and one
    number belongs to one KOC: the same person under two accounts would split her income and
    halve her withholding. The change is audited without the number (only its masked form).
    """
    koc = lock_koc(koc_id=koc.pk)
    if koc.is_organisation:
        raise InvalidInput(
            gettext("Organisations have no personal identity."), code="identity_not_applicable"
        )
    real_name = (real_name or "").strip()
    if not real_name:
        raise InvalidInput(
            gettext("Please fill in the real name."),
            code="invalid_real_name",
            fields={"real_name": [gettext("The real name is required.")]},
        )
    fields = {"real_name": real_name, **identity_fields(id_number, koc_id=koc.pk)}
    for name, value in fields.items():
        setattr(koc, name, value)
    try:
        with transaction.atomic():
            koc.save(update_fields=list(fields))
    except IntegrityError as exc:  # the same number claimed by another KOC at the same moment
        raise IdNumberTaken() from exc
    if by is not None:
        audit.record(
            actor=by, obj=koc, message=f"设置实名信息：{koc.real_name_masked} {koc.id_number_masked}"
        )
    return koc


@transaction.atomic
def koc_profile_update(
    *, koc: Koc, bio: str | None = None, favorite_category_ids: Iterable[int] | None = None
) -> Koc:
    """What a KOC may change about itself: the bio and the categories it likes."""
    if bio is not None:
        koc.bio = bio.strip()
        koc.save(update_fields=["bio"])
    if favorite_category_ids is not None:
        _set_favorite_categories(koc=koc, category_ids=favorite_category_ids)
    return koc


def _set_favorite_categories(*, koc: Koc, category_ids: Iterable[int]) -> None:
    """Replace the KOC's favourite categories; every id must be an active category."""
    ids = sorted(set(category_ids))
    found = set(Category.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    unknown = [i for i in ids if i not in found]
    if unknown:
        message = gettext("No such category: %(id)s") % {"id": unknown[0]}
        raise InvalidInput(message, code="validation_error", fields={"favorite_category_ids": [message]})
    koc.favorite_categories.set(ids)
