"""The engine end to end at the service level: paid -> completed -> settled -> wallet."""

import pytest

from apps.commissions import selectors
from apps.commissions.models import Commission
from apps.commissions.services.settlement import settle_commissions
from tests.commissions.factories import at, completed, demo_plan, make_product, make_team, order_payload, paid


@pytest.mark.django_db
def test_demo_plan_pays_ten_and_three_percent_after_the_freeze(settings):
    # given
    settings.COMMISSION_FREEZE_DAYS = 7
    team = make_team()
    demo_plan()
    product = make_product()
    order = order_payload(koc=team["mia"], lines=[(product, 1, 9900)])

    # when
    paid(order)
    completed(order, completed_at=at(1))

    # then
    assert selectors.wallet(koc_id=team["mia"].pk)["frozen_fen"] == 990
    assert selectors.wallet(koc_id=team["lily"].pk)["frozen_fen"] == 297
    settle_commissions(now=at(7.9))
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == 0
    settle_commissions(now=at(8))
    assert selectors.wallet(koc_id=team["mia"].pk) == {
        "pending_fen": 0,
        "frozen_fen": 0,
        "available_fen": 990,
        "withdrawing_fen": 0,
        "paid_fen": 0,
    }
    assert selectors.wallet(koc_id=team["lily"].pk)["available_fen"] == 297
    mia = Commission.objects.get(koc_id=team["mia"].pk)
    assert mia.status == "available"
    assert mia.explanation.startswith(f"订单 {order['order_no']} 实付 ¥99.00 × 10% = ¥9.90（直推奖励")
