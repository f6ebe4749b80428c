"""Autocompletes for the KOC admin's foreign keys (a user, a parent KOC), so no form lists 100,000 rows.

Django's own autocomplete view answers with `str(obj)`; KOC names repeat ("小王") and users are often
unnamed, so this view (same request and answer shape, same permission check: the target admin's
view permission, its queryset and `get_search_results`, hence the brand scope) labels a KOC with its
role and invite code and a user with a masked phone. It also narrows the choices to those the form
accepts: a parent must be approved, a user must not already be a KOC.
"""

from __future__ import annotations

from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model

from apps.accounts.models import mask_phone
from apps.shop.brand_scope import brand_scope

from ..models import Koc

# The foreign keys (model, field) whose choices are approved KOCs only: a node goes under an approved one.
APPROVED_ONLY = {(Koc, "parent"), (Koc, "sponsor")}


def koc_label(koc: Koc, *, personal: bool = True) -> str:
    """小王 · KOC · MIA2026 · 138****5678: a name people recognise and a code that tells equal names apart."""
    parts = [koc.display_name, koc.get_role_display(), koc.invite_code]
    phone = koc.user.phone if personal and koc.user_id and koc.user else ""
    if phone:
        parts.append(mask_phone(phone))
    return " · ".join(parts)


def user_label(user) -> str:
    phone = mask_phone(user.phone) if getattr(user, "phone", "") else ""
    name = getattr(user, "nickname", "") or user.get_username()
    return f"{name} · {phone}" if phone else name


class KocAutocompleteJsonView(AutocompleteJsonView):
    def get_queryset(self):
        queryset = super().get_queryset()
        source = (self.source_field.model, self.source_field.name)
        remote = self.source_field.remote_field.model
        if remote is Koc:
            queryset = queryset.select_related("user")
            if source in APPROVED_ONLY:
                queryset = queryset.filter(status=Koc.Status.APPROVED)
        elif remote is get_user_model() and source == (Koc, "user"):
            queryset = queryset.filter(koc__isnull=True)  # one KOC per user
        return queryset

    def serialize_result(self, obj, to_field_name):
        if isinstance(obj, Koc):
            text = koc_label(obj, personal=brand_scope(self.request.user) is None)
        elif isinstance(obj, get_user_model()):
            text = user_label(obj)
        else:  # pragma: no cover - only the two above are routed here
            text = str(obj)
        return {"id": str(getattr(obj, to_field_name)), "text": text}


class KocAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, asking the KOC admin's view (above) instead of the site's."""

    url_name = "%s:kocs_koc_autocomplete"
