"""Shoppers' journeys end to end: the API, WeChat Pay through the sandbox, real commits, the outbox,
Celery (eager), refunds sent to and notified by the sandbox, and subscribe messages."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from apps.groupbuys import conf
from apps.groupbuys.models import Group, GroupMember, GroupNotification, SubscriptionQuota
from apps.shop.models import Order, Payment, Refund
from apps.wechat import pay as wechatpay
from apps.wechat.sandbox import pay as sandbox_pay
from apps.wechat.sandbox.subscribe import sent_messages
from tests.accounts.factories import AddressFactory, UserFactory
from tests.groupbuys.factories import CampaignFactory
from tests.helpers import bearer_client, error_code
from tests.shop.journey import pay_through_sandbox

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox(wechat_sandbox, celery_eager):
    return wechat_sandbox


class Shopper:
    def __init__(self, *, subscribe: bool = True, openid: str | None = None):
        self.user = UserFactory(**({"openid": openid} if openid else {}))
        self.address = AddressFactory(user=self.user)
        self.client = bearer_client(self.user)
        if subscribe:
            both = {t: "accept" for t in conf.templates().values()}
            answer = self.client.post("/api/v1/subscriptions", {"results": both}, format="json")
            assert answer.status_code == 200, answer.content

    def open(self, campaign):
        body = {"quantity": 1, "address_id": self.address.pk}
        response = self.client.post(f"/api/v1/group-buys/{campaign.pk}/groups", body, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    def join(self, group_id: int):
        body = {"quantity": 1, "address_id": self.address.pk}
        return self.client.post(f"/api/v1/groups/{group_id}/join", body, format="json")

    def pay(self, order_id: int) -> dict:
        _params, confirm = pay_through_sandbox(self.client, order_id)
        assert confirm["notify_status"] == 204, confirm
        return confirm


def refund_requests(mock) -> int:
    return len([c for c in mock.calls if c.request.url.endswith("/v3/refund/domestic/refunds")])


def snapshot(group_id: int):
    group = Group.objects.get(pk=group_id)
    return (
        group.status,
        group.joined,
        group.paid_count,
        group.succeeded_at,
        group.failed_at,
        sorted(GroupMember.objects.filter(group_id=group_id).values_list("order_id", "status", "refund_id")),
        sorted(
            Order.objects.filter(group_id=group_id).values_list(
                "id", "status", "paid_fen", "refunded_fen", "shipping_hold"
            )
        ),
        sorted(Refund.objects.values_list("order_id", "amount_fen", "status")),
        Payment.objects.count(),
        sorted(GroupNotification.objects.values_list("user_id", "kind", "status")),
        sorted(SubscriptionQuota.objects.values_list("user_id", "template_id", "remaining")),
        len(sent_messages()),
    )


def test_a_group_fills_pays_succeeds_ships_and_tells_its_members_once(sandbox, ops_client):
    # given: a leader and two friends, all of whom allowed our messages
    campaign = CampaignFactory()
    leader, friend, other = Shopper(), Shopper(), Shopper()
    opened = leader.open(campaign)
    group_id = opened["group"]["id"]
    joins = [friend.join(group_id), other.join(group_id)]
    assert [j.status_code for j in joins] == [201, 201]
    orders = [opened["order"]["id"]] + [j.json()["order"]["id"] for j in joins]

    # when: everyone pays in WeChat
    leader.pay(orders[0])
    friend.pay(orders[1])
    halfway = bearer_client(leader.user).get(f"/api/v1/groups/{group_id}").json()
    other.pay(orders[2])

    # then: succeeded once, shippable, members shown, and each member told once
    assert (halfway["status"], halfway["paid_count"], len(halfway["members"])) == ("forming", 2, 2)
    body = Client().get(f"/api/v1/groups/{group_id}").json()
    assert (body["status"], body["joined"], body["paid_count"], body["seats_left"]) == ("succeeded", 3, 3, 0)
    assert body["members"] == [
        {"nickname": s.user.nickname, "avatar_url": s.user.avatar_url, "is_leader": s is leader}
        for s in (leader, friend, other)
    ]
    shipped = ops_client.post(
        f"/api/v1/ops/orders/{Order.objects.get(pk=orders[2]).no}/ship",
        {"carrier": "SF", "tracking_no": "SF1"},
        format="json",
    )
    assert shipped.status_code == 200, shipped.content
    messages = sent_messages()
    assert sorted(m["touser"] for m in messages) == sorted(s.user.openid for s in (leader, friend, other))
    assert {m["template_id"] for m in messages} == {conf.success_template_id()}
    assert {m["page"] for m in messages} == {f"{conf.group_page()}?id={group_id}"}
    assert messages[0]["data"]["phrase3"] == {"value": "拼团成功"}
    assert messages[0]["data"]["amount2"] == {"value": "69.00元"}
    quotas = dict(SubscriptionQuota.objects.filter(user=friend.user).values_list("template_id", "remaining"))
    assert quotas == {conf.success_template_id(): 0, conf.failure_template_id(): 1}

    # and when: WeChat repeats each payment notification
    before = snapshot(group_id)
    for order_id in orders:
        repeat = Client().post(
            "/wechat-sandbox/pay/renotify",
            {"out_trade_no": Order.objects.get(pk=order_id).no},
            content_type="application/json",
        )
        assert repeat.json()["notify_status"] == 204

    # then: nothing changes
    assert snapshot(group_id) == before


def test_a_group_that_expires_refunds_each_paid_member_once_and_cancels_the_unpaid(sandbox):
    # given: the leader and one friend paid; the third never pays; one of them gave no quota
    campaign = CampaignFactory()
    leader, friend, slow = Shopper(), Shopper(subscribe=False), Shopper()
    opened = leader.open(campaign)
    group_id = opened["group"]["id"]
    paid_orders = [opened["order"]["id"], friend.join(group_id).json()["order"]["id"]]
    unpaid_order = slow.join(group_id).json()["order"]["id"]
    for shopper, order_id in zip((leader, friend), paid_orders, strict=True):
        shopper.pay(order_id)
    # the slow one asked WeChat for a payment, but did not pay
    assert slow.client.post(f"/api/v1/orders/{unpaid_order}/pay").status_code == 200
    deadline = Group.objects.get(pk=group_id).expires_at

    # when: the sweeper runs after the deadline
    call_command("expire_groups", now=(deadline + timedelta(seconds=1)).isoformat())

    # then: the group failed; both paid orders refunded in full by WeChat; the third cancelled
    group = Group.objects.get(pk=group_id)
    assert (group.status, group.joined, group.paid_count) == ("failed", 0, 0)
    assert sorted(Refund.objects.values_list("order_id", "amount_fen", "status", "kind")) == [
        (order_id, 6900, "succeeded", "system") for order_id in sorted(paid_orders)
    ]
    assert [Order.objects.get(pk=o).status for o in paid_orders] == ["refunded", "refunded"]
    assert [Order.objects.get(pk=o).refunded_fen for o in paid_orders] == [6900, 6900]
    assert Order.objects.get(pk=unpaid_order).status == "cancelled"
    assert sandbox_pay.get_transaction(Order.objects.get(pk=unpaid_order).no)["trade_state"] == "CLOSED"
    assert dict(GroupMember.objects.values_list("user_id", "status")) == {
        leader.user.pk: "refunded",
        friend.user.pk: "refunded",
        slow.user.pk: "released",
    }
    # told of the failure: those who allowed it; the friend had no quota, so no message
    assert sorted(m["touser"] for m in sent_messages()) == sorted([leader.user.openid, slow.user.openid])
    assert GroupNotification.objects.get(user=friend.user).status == "no_quota"
    shown = Client().get(f"/api/v1/groups/{group_id}").json()
    assert (shown["status"], shown["members"], shown["seats_left"]) == ("failed", [], 0)
    late_join = Shopper().join(group_id)
    assert (late_join.status_code, error_code(late_join)) == (409, "group_closed")

    # and when: expiry runs again, from the command and from the group's own task
    before = snapshot(group_id)
    call_command("expire_groups", now=(deadline + timedelta(minutes=5)).isoformat())
    from apps.groupbuys.tasks import expire_group

    expire_group.delay(group_id)

    # then: nothing changes, and WeChat was asked for no further refund
    assert snapshot(group_id) == before
    assert refund_requests(sandbox) == 2


def confirm_without_notification(shopper: Shopper, order_id: int) -> None:
    """The shopper pays in WeChat, but WeChat's notification is late (not sent yet)."""
    prepay = (
        shopper.client.post(f"/api/v1/orders/{order_id}/pay").json()["package"].removeprefix("prepay_id=")
    )
    paid = Client().post(
        "/wechat-sandbox/pay/confirm", {"prepay_id": prepay, "notify": False}, content_type="application/json"
    )
    assert paid.status_code == 200, paid.content


def renotify(order_id: int) -> int:
    order_no = Order.objects.get(pk=order_id).no
    answer = Client().post(
        "/wechat-sandbox/pay/renotify", {"out_trade_no": order_no}, content_type="application/json"
    )
    return answer.json()["notify_status"]


def test_a_last_seat_paid_in_time_with_a_late_notification_completes_the_group_at_the_deadline(sandbox):
    # given: a 2-person group; the friend paid before the deadline, WeChat has not notified yet
    campaign = CampaignFactory(group_size=2)
    leader, friend = Shopper(), Shopper()
    opened = leader.open(campaign)
    group_id = opened["group"]["id"]
    leader.pay(opened["order"]["id"])
    friend_order = friend.join(group_id).json()["order"]["id"]
    confirm_without_notification(friend, friend_order)
    deadline = Group.objects.get(pk=group_id).expires_at

    # when: the deadline comes (the expiry asks WeChat about the unpaid seat first)
    call_command("expire_groups", now=(deadline + timedelta(seconds=1)).isoformat())

    # then: the payment was made in time, so the group succeeded; nothing is refunded
    group = Group.objects.get(pk=group_id)
    assert (group.status, group.paid_count) == ("succeeded", 2)
    assert Refund.objects.count() == 0
    assert set(Order.objects.filter(group_id=group_id).values_list("status", "shipping_hold")) == {
        ("paid", False)
    }
    # and WeChat's notification, when it finally comes, changes nothing
    before = snapshot(group_id)
    assert renotify(friend_order) == 204
    assert snapshot(group_id) == before


def test_a_payment_that_reaches_us_after_the_group_failed_is_refunded_in_full(sandbox, monkeypatch):
    # given: a 3-seat group with the leader paid; the second shopper pays in WeChat right after the
    # expiry has asked WeChat about the seat (and heard "not paid"), and its notification is late
    campaign = CampaignFactory()
    leader, late = Shopper(), Shopper()
    opened = leader.open(campaign)
    group_id = opened["group"]["id"]
    leader.pay(opened["order"]["id"])
    late_order = late.join(group_id).json()["order"]["id"]
    late.client.post(f"/api/v1/orders/{late_order}/pay")
    real_query = wechatpay.query_payment

    def query_then_shopper_pays(*, out_trade_no):
        answer = real_query(out_trade_no=out_trade_no)
        if out_trade_no == Order.objects.get(pk=late_order).no:
            confirm_without_notification(late, late_order)
        return answer

    monkeypatch.setattr(wechatpay, "query_payment", query_then_shopper_pays)
    call_command(
        "expire_groups", now=(Group.objects.get(pk=group_id).expires_at + timedelta(seconds=1)).isoformat()
    )
    assert Order.objects.get(pk=late_order).status == "cancelled"

    # when: WeChat's notification arrives
    status = renotify(late_order)

    # then: the money goes back in full, once, and the group stays failed without that member
    assert status == 204
    assert list(Refund.objects.filter(order_id=late_order).values_list("amount_fen", "status")) == [
        (6900, "succeeded")
    ]
    assert Order.objects.get(pk=late_order).refunded_fen == 6900
    assert GroupMember.objects.get(order_id=late_order).status == "released"
    group = Group.objects.get(pk=group_id)
    assert (group.status, group.joined, group.paid_count) == ("failed", 0, 0)
    # and a repeat of the late notification refunds nothing more
    renotify(late_order)
    assert Refund.objects.filter(order_id=late_order).count() == 1


def test_a_member_refunded_after_success_leaves_the_success_standing(sandbox, ops_client):
    # given: a 2-person group that succeeded
    campaign = CampaignFactory(group_size=2)
    leader, friend = Shopper(), Shopper()
    opened = leader.open(campaign)
    group_id = opened["group"]["id"]
    friend_order = friend.join(group_id).json()["order"]["id"]
    leader.pay(opened["order"]["id"])
    friend.pay(friend_order)
    assert Group.objects.get(pk=group_id).status == "succeeded"

    # when: the friend asks for a refund and an operator approves it (WeChat refunds, notifies)
    requested = friend.client.post(
        f"/api/v1/orders/{friend_order}/refunds", {"reason": "不想要了"}, format="json"
    )
    approved = ops_client.post(f"/api/v1/ops/refunds/{requested.json()['id']}/approve", {}, format="json")

    # then: still succeeded, but shown with its paid member only
    assert approved.status_code == 200, approved.content
    assert Order.objects.get(pk=friend_order).status == "refunded"
    body = Client().get(f"/api/v1/groups/{group_id}").json()
    assert (body["status"], body["paid_count"], body["joined"], body["seats_left"]) == ("succeeded", 1, 1, 0)
    assert body["members"] == [
        {"nickname": leader.user.nickname, "avatar_url": leader.user.avatar_url, "is_leader": True}
    ]
    assert GroupMember.objects.get(order_id=friend_order).status == "refunded"
