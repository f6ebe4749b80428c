"""A failed group refunds every paid member, also one with an after-sales request pending (issue 13)."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from apps.shop import services as shop
from apps.shop.errors import RefundNotPending
from apps.shop.models import Refund
from tests.groupbuys.factories import deliver_events, join_group, open_group, pay

pytestmark = pytest.mark.django_db


def test_a_failed_group_refunds_a_member_whose_after_sales_request_is_pending(campaign):
    # given: two paid members; the leader has asked for an after-sales refund, not yet decided
    group, leader_order, _ = open_group(campaign)
    group, second, _ = join_group(group)
    join_group(group)
    pay(leader_order)
    pay(second)
    deliver_events()
    leader_order.refresh_from_db()
    request = shop.refund_create(order=leader_order, amount_fen=6900, reason="不想要了")

    # when: the group fails at its deadline
    call_command("expire_groups", now=(group.expires_at + timedelta(seconds=1)).isoformat())
    deliver_events()

    # then: the pending request is closed with the reason, and both members are refunded in full
    request.refresh_from_db()
    assert (request.status, request.note) == ("closed", "拼团失败，全额退款")
    system = Refund.objects.filter(kind="system").order_by("order_id")
    assert [(r.order_id, r.amount_fen, r.status) for r in system] == [
        (leader_order.pk, 6900, "approved"),
        (second.pk, 6900, "approved"),
    ]
    # and an operator's late decision on the closed request changes nothing
    with pytest.raises(RefundNotPending):
        shop.refund_reject(refund=request, note="拒绝")
    with pytest.raises(RefundNotPending):
        shop.refund_approve(refund=request, note="同意")
    assert Refund.objects.get(pk=request.pk).status == "closed"
