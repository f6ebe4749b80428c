"""Demo team of docs/api.md: 华东分公司 -> 杭州机构 -> Lily (团长, LILY2026) -> Mia (KOC, MIA2026), and tiers.

The KOCs' users are the sandbox openids, so the sandbox login codes `koc-lily` and `koc-mia` log in
as them; a user who already logged in is attached to, not duplicated. Idempotent: a second run
finds every node by its invite code and changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from apps.accounts.models import User
from apps.shop.models import Category, Product

from . import identity, services
from .models import Koc, Level

ORDER = 20  # after the shop's catalogue (10)

LEVELS = [
    # rank, name, own sales, team sales, active direct KOCs, commission bonus %, own purchase discount %
    (0, "见习 KOC", 0, 0, 0, "0", "0"),
    (1, "银牌 KOC", 100_000, 0, 0, "1", "3"),
    (2, "金牌 KOC", 500_000, 2_000_000, 0, "2", "5"),
    (3, "钻石 KOC", 1_000_000, 10_000_000, 5, "3", "8"),
]


def _user(openid: str, nickname: str) -> User:
    user = User.objects.filter(openid=openid).first()
    if user is None:
        user = User(username=openid, openid=openid, nickname=nickname)
        user.set_unusable_password()
        user.save()
    elif not user.nickname:
        user.nickname = nickname
        user.save(update_fields=["nickname"])
    return user


def _node(invite_code: str, **create) -> Koc:
    return Koc.objects.filter(invite_code=invite_code).first() or services.koc_create(
        invite_code=invite_code, reason="演示数据 demo", **create
    )


def seed(stdout) -> None:
    for rank, name, own, team, active, bonus, discount in LEVELS:
        Level.objects.get_or_create(
            rank=rank,
            defaults={
                "name": name,
                "min_own_sales_fen": own,
                "min_team_sales_fen": team,
                "min_active_direct_kocs": active,
                "commission_bonus_percent": Decimal(bonus),
                "own_purchase_discount_percent": Decimal(discount),
            },
        )

    branch = _node(
        "HUADONG",
        role=Koc.Role.BRANCH,
        legal_name="华东分公司",
        registration_number="91330000DEMO00001X",
    )
    agency = _node(
        "HANGZHOU",
        role=Koc.Role.AGENCY,
        parent=branch,
        legal_name="杭州机构",
        registration_number="91330100DEMO00002X",
    )
    lily = _node(
        "LILY2026",
        role=Koc.Role.LEADER,
        parent=agency,
        user=_user("sandbox-koc-lily", "Lily 团长"),
        real_name="林丽丽",
        bio="杭州社区团购团长，管理 5 个小区群。",
    )
    mia = _node(
        "MIA2026",
        role=Koc.Role.KOC,
        parent=lily,
        user=_user("sandbox-koc-mia", "Mia"),
        real_name="米雅",
        bio="宝妈，爱喝茶，爱分享。",
    )

    # Demo identities (valid GB 11643 check digits, invented people): withdrawals need one.
    for koc, first17 in ((lily, "33010619880307123"), (mia, "33010619920815246")):
        if not koc.id_number:
            services.koc_identity_set(
                koc=koc, real_name=koc.real_name, id_number=identity.with_check(first17)
            )

    # Inline rather than through the worker, so the demo's levels do not depend on one running.
    services.upline_tiers_evaluate(koc_id=mia.pk)

    tea = Category.objects.filter(name="茶饮", parent=None).first()
    if tea is not None and not mia.favorite_categories.exists():
        mia.favorite_categories.add(tea)
    longjing = Product.objects.filter(title="明前龙井 250g").first()
    if longjing is not None:
        for koc in (lily, mia):
            services.storefront_pick_add(koc=koc, product_id=longjing.pk)
    stdout.write(f"kocs: {branch.legal_name} -> {agency.legal_name} -> LILY2026 -> MIA2026")
