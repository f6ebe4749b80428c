"""Money in the admin: people read and type yuan (¥1,234.56); the database keeps integer fen.

- `YuanField`, a form field: shows a fen value as yuan with separators, accepts what a person types
  ("12.34", "1,234.5", "¥12") and hands the model integer fen. Bad input is a form error in the
  person's language and nothing is saved.
- `YuanAdminMixin`, for every ModelAdmin and inline whose model has a `*_fen` field: such fields get
  a `YuanField` in forms, and wherever they are read (list columns, read-only and view-only detail
  pages, inline rows) they show as yuan with thousands separators instead of a bare fen integer.
  tests/core/test_money_admin.py checks that every registered admin with a `*_fen` field uses it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .money import YuanParseError, parse_yuan, yuan_grouped


def is_fen_field(field) -> bool:
    return (
        isinstance(field, models.IntegerField)
        and not field.is_relation
        and getattr(field, "name", "").endswith("_fen")
    )


def fen_fields(model) -> dict[str, models.Field]:
    return {f.name: f for f in model._meta.concrete_fields if is_fen_field(f)}


def yuan_text(amount_fen: int | None) -> str:
    """¥1,234.56 for people; '—' for no amount."""
    if amount_fen is None:
        return "—"
    return f"-¥{yuan_grouped(-amount_fen)}" if amount_fen < 0 else f"¥{yuan_grouped(amount_fen)}"


class YuanInput(forms.TextInput):
    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", "placeholder": "0.00", **(attrs or {})})


class YuanField(forms.Field):
    """Typed in yuan, cleaned to integer fen."""

    widget = YuanInput
    default_error_messages = {
        "invalid": _("Enter an amount in yuan, such as 12.34."),
        "too_precise": _("An amount has at most two decimals (fen)."),
        "min_value": _("The amount must be at least ¥%(limit)s."),
        "max_value": _("The amount must be at most ¥%(limit)s."),
    }

    def __init__(self, *, min_fen: int | None = None, max_fen: int | None = None, **kwargs):
        self.min_fen, self.max_fen = min_fen, max_fen
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return yuan_grouped(value)
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already fen (an initial value)
        try:
            return parse_yuan(value)
        except YuanParseError as error:
            raise ValidationError(self.error_messages[error.code], code=error.code) from None

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        if self.min_fen is not None and value < self.min_fen:
            raise ValidationError(
                self.error_messages["min_value"],
                code="min_value",
                params={"limit": yuan_grouped(self.min_fen)},
            )
        if self.max_fen is not None and value > self.max_fen:
            raise ValidationError(
                self.error_messages["max_value"],
                code="max_value",
                params={"limit": yuan_grouped(self.max_fen)},
            )


def _bounds(db_field) -> tuple[int | None, int | None]:
    low = high = None
    if isinstance(
        db_field,
        models.PositiveIntegerField | models.PositiveBigIntegerField | models.PositiveSmallIntegerField,
    ):
        low = 0
    for validator in db_field.validators:
        code = getattr(validator, "code", "")
        limit = getattr(validator, "limit_value", None)
        if isinstance(limit, int):
            if code == "min_value":
                low = limit if low is None else max(low, limit)
            elif code == "max_value":
                high = limit if high is None else min(high, limit)
    return low, high


def yuan_formfield(db_field, **kwargs) -> YuanField:
    low, high = _bounds(db_field)
    defaults = {
        "required": not db_field.blank,
        "label": capfirst(db_field.verbose_name),
        "help_text": db_field.help_text,
        "min_fen": low,
        "max_fen": high,
    }
    if db_field.has_default():
        defaults["initial"] = db_field.get_default()
    defaults.update({k: v for k, v in kwargs.items() if k in ("required", "label", "help_text", "initial")})
    return YuanField(**defaults)


def alias_of(name: str) -> str:
    return f"{name.removesuffix('_fen')}_yuan"


def _display(field):
    name = field.name

    @admin.display(description=field.verbose_name, ordering=name)
    def show(obj):
        return yuan_text(getattr(obj, name))

    return show


def _map_names(names, wanted: dict[str, str]):
    """Replace field names (also inside the tuples of one fieldset line) by their yuan aliases."""
    out = []
    for name in names:
        if isinstance(name, list | tuple):
            out.append(type(name)(_map_names(name, wanted)))
        else:
            out.append(wanted.get(name, name))
    return out


class YuanAdminMixin:
    """Yuan for every `*_fen` field of the admin's model (forms, list columns, read-only pages)."""

    def _yuan_aliases(self) -> dict[str, str]:
        aliases = {}
        for name, field in fen_fields(self.model).items():
            alias = alias_of(name)
            if not hasattr(self, alias):
                setattr(self, alias, _display(field))
            aliases[name] = alias
        return aliases

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if is_fen_field(db_field) and not db_field.choices:
            return yuan_formfield(db_field, **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_list_display(self, request):
        return _map_names(super().get_list_display(request), self._yuan_aliases())

    def yuan_readonly(self, readonly_fields, fieldsets):
        """The read-only names and fieldsets of a page, with each `*_fen` name read as yuan."""
        aliases = self._yuan_aliases()
        wanted = {name: alias for name, alias in aliases.items() if name in set(readonly_fields)}
        mapped_fieldsets = [
            (title, {**options, "fields": _map_names(options.get("fields", ()), wanted)})
            for title, options in fieldsets
        ]
        return _map_names(readonly_fields, wanted), mapped_fieldsets

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        adminform = context.get("adminform")
        if adminform is not None:
            adminform.readonly_fields, adminform.fieldsets = self.yuan_readonly(
                list(adminform.readonly_fields), adminform.fieldsets
            )
        for inline_formset in context.get("inline_admin_formsets", ()):
            inline = inline_formset.opts
            if isinstance(inline, YuanAdminMixin):
                readonly = list(inline_formset.readonly_fields)
                if not inline_formset.has_change_permission:  # a view-only inline: every field is read
                    readonly += [n for n in fen_fields(inline.model) if n not in readonly]
                readonly, inline_formset.fieldsets = inline.yuan_readonly(readonly, inline_formset.fieldsets)
                inline_formset.readonly_fields = readonly
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
