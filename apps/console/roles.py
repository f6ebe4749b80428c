"""The console's three roles as Django groups: 平台管理员, 品牌运营 and 财务.

The groups are (re)built by `ensure_role_groups()`, which a `post_migrate` receiver runs after every
`migrate` (and after every test-database flush). Not a data migration: Django creates Permission
rows in `post_migrate`, after all migrations ran, so on a fresh database a data migration finds no
permissions to grant, and every model added later would need another migration. The code is the
source of truth for these three groups: each run sets their permissions to exactly what is listed
here; extra rights for someone go into another group.

Brand scoping is not a permission: a 品牌运营 user is also linked to one brand (shop.BrandOperator),
and apps/shop/brand_scope.py narrows every queryset to that brand.
"""

from __future__ import annotations

from apps.accounts.roles import BRAND_OPERATOR, FINANCE, PLATFORM_ADMIN

__all__ = ["BRAND_OPERATOR", "FINANCE", "PLATFORM_ADMIN", "ensure_role_groups"]

# Every permission of these apps belongs to the platform admin (auth's users and groups stay with
# superusers: who may grant rights is not a business role).
BUSINESS_APPS = [
    "accounts",
    "core",
    "shop",
    "kocs",
    "sharing",
    "groupbuys",
    "commissions",
    "reconciliation",
    "console",
]

BRAND_OPERATOR_PERMISSIONS = [
    "shop.view_brand",
    "shop.view_category",
    "shop.view_product",
    "shop.add_product",
    "shop.change_product",
    "shop.view_sku",
    "shop.add_sku",
    "shop.change_sku",
    "shop.delete_sku",
    "shop.view_productimage",
    "shop.add_productimage",
    "shop.change_productimage",
    "shop.delete_productimage",
    "shop.view_order",
    "shop.view_orderitem",  # the order page's lines (only its brand's: BrandScopedInlineMixin)
    "shop.ship_order",
    "shop.view_refund",
    "kocs.view_koc",
    "kocs.view_brandinvitation",
    "kocs.add_brandinvitation",
]

FINANCE_MODELS = [
    "ruleset",
    "rule",
    "orderfact",
    "refundfact",
    "account",
    "commission",
    "ledgerentry",
    "payoutsettings",
    "withdrawal",
    "taxrecord",
    "taxdeduction",
    "periodrun",
]
FINANCE_PERMISSIONS = [
    *(f"commissions.view_{model}" for model in FINANCE_MODELS),
    "commissions.change_withdrawal",  # the payout actions (bank transfer done / failed, query WeChat)
    "commissions.add_taxdeduction",  # other deductions (累计依法确定的其他扣除) finance records
    # Finance's front page: refunds that failed (not the orders or the catalogue), the daily
    # reconciliation's differences (marked handled once followed up), whom a payout goes to.
    "shop.view_refund",
    "reconciliation.view_reconciliationrun",
    "reconciliation.view_difference",
    "reconciliation.change_difference",
    "kocs.view_koc",
]


def _permissions(names, permissions):
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = list(
        permissions.filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={codename for _, codename in wanted},
        ).select_related("content_type")
    )
    return [p for p in found if (p.content_type.app_label, p.codename) in wanted]


def ensure_role_groups(using: str = "default") -> dict[str, object]:
    """Create the three groups if missing and set their permissions; safe to run any number of times."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    # The receiver may run before some app's own post_migrate created its permissions.
    for config in apps.get_app_configs():
        if config.label in BUSINESS_APPS and config.models_module is not None:
            create_permissions(config, verbosity=0, using=using)

    everything = Permission.objects.using(using).filter(content_type__app_label__in=BUSINESS_APPS)
    groups = {}
    for name, permissions in [
        (PLATFORM_ADMIN, list(everything)),
        (BRAND_OPERATOR, _permissions(BRAND_OPERATOR_PERMISSIONS, Permission.objects.using(using))),
        (FINANCE, _permissions(FINANCE_PERMISSIONS, Permission.objects.using(using))),
    ]:
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions)
        groups[name] = group
    return groups


def ensure_role_groups_after_migrate(sender, using="default", **kwargs) -> None:
    ensure_role_groups(using=using)
