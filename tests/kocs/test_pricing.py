"""The tier benefit 'lower own purchase price', as the price policy the shop asks."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from apps.kocs import services
from apps.kocs.models import Koc
from apps.kocs.pricing import tier_price_policy
from apps.shop.pricing import PriceOffer
from tests.accounts.factories import UserFactory
from tests.kocs.factories import LevelFactory, make_individual

pytestmark = pytest.mark.django_db

SKU = SimpleNamespace(price_fen=9_900)


def test_a_koc_buying_for_themself_gets_their_levels_discount_rounded_half_up():
    # given: 3.5% off 9 900 fen = 9 553.5 fen
    gold = LevelFactory(rank=2, name="金牌", own_purchase_discount_percent=Decimal("3.5"))
    koc = make_individual()
    Koc.objects.filter(pk=koc.pk).update(level=gold)

    # when
    offer = tier_price_policy(koc.user, SKU)

    # then
    assert offer == PriceOffer(unit_price_fen=9_554, source="tier:金牌")


def test_a_shopper_an_anonymous_buyer_and_a_koc_without_discount_get_no_offer(shopper):
    plain = make_individual()
    Koc.objects.filter(pk=plain.pk).update(
        level=LevelFactory(rank=1, own_purchase_discount_percent=Decimal("0"))
    )
    assert tier_price_policy(shopper, SKU) is None
    assert tier_price_policy(AnonymousUser(), SKU) is None
    assert tier_price_policy(None, SKU) is None
    assert tier_price_policy(plain.user, SKU) is None


def test_a_pending_or_suspended_koc_gets_no_offer():
    level = LevelFactory(rank=3, own_purchase_discount_percent=Decimal("10"))
    pending = services.koc_apply(user=UserFactory(), real_name="王五")
    suspended = make_individual()
    Koc.objects.filter(pk__in=[pending.pk, suspended.pk]).update(level=level)
    services.koc_set_status(koc=suspended, status=Koc.Status.SUSPENDED, by=None)
    assert tier_price_policy(pending.user, SKU) is None
    assert tier_price_policy(suspended.user, SKU) is None


def test_the_policy_is_registered_with_the_shop():
    from apps.shop import pricing

    assert tier_price_policy in pricing._policies


def test_a_kocs_own_order_is_priced_with_the_tier_discount_and_a_shoppers_is_not(shopper):
    # given: a gold KOC (5% off own purchases) and a shopper, both buying the same 9 900 fen tea
    from apps.shop.services import order_create
    from tests.accounts.factories import AddressFactory
    from tests.kocs.factories import SkuFactory

    gold = LevelFactory(rank=2, name="金牌", own_purchase_discount_percent=Decimal("5"))
    koc = make_individual()
    services.koc_set_level(koc=koc, level=gold, by=None, reason="测试")
    sku = SkuFactory(price_fen=9_900)

    # when
    own = order_create(buyer=koc.user, items=[(sku, 2)], address=AddressFactory(user=koc.user))
    theirs = order_create(buyer=shopper, items=[(sku, 2)], address=AddressFactory(user=shopper))

    # then
    own_item, their_item = own.items.get(), theirs.items.get()
    assert (own_item.price_fen, own_item.price_source, own.total_fen) == (9_405, "tier:金牌", 18_810)
    assert (their_item.price_fen, their_item.price_source, theirs.total_fen) == (9_900, "list", 19_800)
