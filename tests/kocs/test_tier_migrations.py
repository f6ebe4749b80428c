"""The data migrations of issue 11 over existing rows: own purchases leave the sales read model."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from apps.kocs.models import KocOrderLine, KocSale
from tests.accounts.factories import UserFactory
from tests.kocs.factories import make_individual
from tests.shop.factories import make_order

pytestmark = pytest.mark.django_db

own_purchases = importlib.import_module("apps.kocs.migrations.0005_own_purchases_are_no_sales")


def recorded_sale(*, koc, order, amount_fen: int) -> KocSale:
    KocOrderLine.objects.create(
        kind="sale",
        koc=koc,
        order_id=order.pk,
        item_id=order.pk * 10,
        line_fen=amount_fen,
        completed_at=timezone.now(),
    )
    return KocSale.objects.create(
        koc=koc, order_id=order.pk, paid_fen=amount_fen, amount_fen=amount_fen, completed_at=timezone.now()
    )


def test_recorded_own_purchases_are_removed_and_sales_to_others_kept():
    # given: her purchase through her own link, one flagged only in the snapshot, and a real sale
    koc = make_individual()
    own = make_order(buyer=koc.user)
    flagged = make_order(buyer=UserFactory())
    type(flagged).objects.filter(pk=flagged.pk).update(attribution={"koc_id": koc.pk, "self_purchase": True})
    sold = make_order(buyer=UserFactory())
    for order in (own, flagged, sold):
        recorded_sale(koc=koc, order=order, amount_fen=1_000)

    # when
    own_purchases.remove_own_purchases(apps, None)

    # then
    assert list(KocSale.objects.values_list("order_id", flat=True)) == [sold.pk]
    assert list(KocOrderLine.objects.values_list("order_id", flat=True)) == [sold.pk]
