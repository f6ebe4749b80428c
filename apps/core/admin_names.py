"""Names, not ids, in the admin: a KOC, a user or an order shown as its name (masked phone), linked to
its page, and found by name, phone or order number.

Models keep plain ids across apps (`koc_id`, `order_id`, `buyer_id`) so that the apps stay layered;
the admin still has to show people. A kind of object ("koc", "user", "order") registers, from the top
layer that may import it (the console's AppConfig.ready), how to resolve ids to `Named` in one query
and how to find ids by a search term. `NamedColumnsMixin` then:
- turns each of its `named_fields` (field name -> kind) into a linked name in list columns and on the
  detail page, resolving one changelist page in one query per kind (not one per row);
- extends the changelist search: a term also matches rows whose object of that kind has that name,
  phone or number.

`ReadOnlyPageMixin` drops the Save buttons from a detail page nobody can save (read-only admins whose
changes go through actions and services).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib import admin
from django.utils.html import format_html

from .money_admin import _map_names


@dataclass(frozen=True)
class Named:
    name: str
    detail: str = ""  # a masked phone, an invite code: what tells two people of one name apart
    url: str = ""


_RESOLVERS: dict[str, Callable[[list[int]], dict[int, Named]]] = {}
_SEARCHERS: dict[str, Callable[[str], object]] = {}


def register(kind: str, *, resolve: Callable[[list[int]], dict[int, Named]], search=None) -> None:
    _RESOLVERS[kind] = resolve
    if search is not None:
        _SEARCHERS[kind] = search


def resolve(kind: str, ids: Iterable[int | None]) -> dict[int, Named]:
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted or kind not in _RESOLVERS:
        return {}
    return _RESOLVERS[kind](wanted)


def search(kind: str, term: str):
    """Ids (a list or a `values("pk")` queryset) of objects of `kind` matching `term`, or None."""
    finder = _SEARCHERS.get(kind)
    return finder(term.strip()) if finder and term.strip() else None


def named_html(named: Named | None, fallback_id) -> str:
    if named is None:
        return "—" if fallback_id in (None, "") else f"#{fallback_id}"
    detail = format_html(' <span class="quiet">{}</span>', named.detail) if named.detail else ""
    if named.url:
        return format_html('<a href="{}">{}</a>{}', named.url, named.name, detail)
    return format_html("{}{}", named.name, detail)


def named_text(named: Named | None, fallback_id) -> str:
    if named is None:
        return "" if fallback_id is None else f"#{fallback_id}"
    return f"{named.name} {named.detail}".strip()


def _alias(name: str) -> str:
    return f"{name}_named"


class NamedColumnsMixin:
    named_fields: dict[str, str] = {}

    def _named_display(self, field_name: str, kind: str):
        try:
            label = self.model._meta.get_field(field_name).verbose_name
        except Exception:  # a name that is not a model field: an annotation or attribute
            label = field_name

        @admin.display(description=label, ordering=field_name)
        def show(obj):
            cache = obj.__dict__.setdefault("_named_cache", {})
            value = getattr(obj, field_name, None)
            if field_name not in cache:
                cache[field_name] = resolve(kind, [value]).get(value) if value is not None else None
            return named_html(cache[field_name], value)

        return show

    def _named_aliases(self) -> dict[str, str]:
        aliases = {}
        for field_name, kind in self.named_fields.items():
            alias = _alias(field_name)
            if not hasattr(self, alias):
                setattr(self, alias, self._named_display(field_name, kind))
            aliases[field_name] = alias
        return aliases

    def get_list_display(self, request):
        return _map_names(super().get_list_display(request), self._named_aliases())

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        self.prefetch_names(changelist.result_list)
        return changelist

    def prefetch_names(self, objects) -> None:
        """One query per kind for a whole page of rows."""
        objects = list(objects)
        for field_name, kind in self.named_fields.items():
            names = resolve(kind, (getattr(o, field_name, None) for o in objects))
            for obj in objects:
                value = getattr(obj, field_name, None)
                obj.__dict__.setdefault("_named_cache", {})[field_name] = names.get(value)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            for field_name, kind in self.named_fields.items():
                ids = search(kind, search_term)
                if ids is not None:
                    results = results | queryset.filter(**{f"{field_name}__in": ids})
        return results, may_have_duplicates

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        adminform = context.get("adminform")
        if adminform is not None:
            aliases = self._named_aliases()
            readonly = set(adminform.readonly_fields)
            wanted = {name: alias for name, alias in aliases.items() if name in readonly}
            adminform.readonly_fields = _map_names(list(adminform.readonly_fields), wanted)
            adminform.fieldsets = [
                (title, {**options, "fields": _map_names(options.get("fields", ()), wanted)})
                for title, options in adminform.fieldsets
            ]
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )


class ReadOnlyPageMixin:
    """A detail page to read: no Save, Save and continue, Save and add another, or Delete buttons."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)
