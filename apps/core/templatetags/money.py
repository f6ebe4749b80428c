"""`{% load money %}` then `{{ amount_fen|yuan }}`: ¥1,234.56 for a fen amount (— for none)."""

from django import template

from apps.core.money_admin import yuan_text

register = template.Library()


@register.filter
def yuan(amount_fen):
    if amount_fen in (None, ""):
        return "—"
    return yuan_text(int(amount_fen))
