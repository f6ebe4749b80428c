"""A confirmation page between an admin action that moves money or rules and its effect.

Django runs a changelist action the moment it is chosen. For approving refunds (money leaves through
WeChat Pay), activating a rule set (every later order is paid by it) or approving KOCs in bulk, the
operator first sees what will happen: how many, which, how much, what is replaced. The page posts the
same action back with `confirm=yes`; only then does the action run. Nothing is written before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib import admin
from django.template.response import TemplateResponse

CONFIRM_FIELD = "confirm"


def is_confirmed(request) -> bool:
    return request.method == "POST" and request.POST.get(CONFIRM_FIELD) == "yes"


@dataclass
class Confirmation:
    title: str
    button: str
    # What will happen, in sentences ("将向微信支付提交 2 笔退款，合计 ¥1,234.00").
    effects: list[str]
    headers: Sequence[str] = ()
    rows: list[Sequence[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def confirmation_page(model_admin, request, queryset, *, action: str, confirmation: Confirmation):
    """The page that asks; its form re-submits `action` over the same selected rows."""
    opts = model_admin.model._meta
    return TemplateResponse(
        request,
        "admin/confirm_action.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": confirmation.title,
            "confirmation": confirmation,
            "opts": opts,
            "action": action,
            "selected": [obj.pk for obj in queryset],
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "confirm_field": CONFIRM_FIELD,
        },
    )
