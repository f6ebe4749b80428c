"""Subscribe messages: the quota users grant, spent one per message; no quota, no send; 43101 clears it."""

import json

import pytest
import responses
from django.test import Client

from apps.groupbuys import conf, services
from apps.groupbuys.models import GroupNotification, SubscriptionQuota
from apps.groupbuys.tasks import send_group_notification
from apps.wechat.sandbox.subscribe import sent_messages
from tests.accounts.factories import UserFactory
from tests.groupbuys.factories import open_group
from tests.helpers import error_code

pytestmark = pytest.mark.django_db

SEND = "/cgi-bin/message/subscribe/send"


def quota(user, template_id=None) -> int:
    template_id = template_id or conf.success_template_id()
    row = SubscriptionQuota.objects.filter(user=user, template_id=template_id).first()
    return row.remaining if row else 0


def give_quota(user, remaining: int, template_id=None) -> None:
    SubscriptionQuota.objects.update_or_create(
        user=user, template_id=template_id or conf.success_template_id(), defaults={"remaining": remaining}
    )


def notification_for(campaign, user) -> GroupNotification:
    group, _, _ = open_group(campaign)
    services.queue_group_notifications(group=group, kind=GroupNotification.Kind.SUCCEEDED, user_ids=[user.pk])
    return GroupNotification.objects.get(group=group, user=user)


def send_calls(mock) -> list:
    return [c for c in mock.calls if SEND in c.request.url]


def test_each_accept_of_our_templates_adds_one_message_to_the_quota(shopper, shopper_client):
    success, failure = conf.success_template_id(), conf.failure_template_id()

    first = shopper_client.post(
        "/api/v1/subscriptions",
        {
            "results": {
                success: "accept",
                failure: "reject",
                "someone-elses": "accept",
                "errMsg": "requestSubscribeMessage:ok",
            }
        },
        format="json",
    )
    second = shopper_client.post(
        "/api/v1/subscriptions", {"results": {success: "accept", failure: "accept"}}, format="json"
    )
    shown = shopper_client.get("/api/v1/subscriptions")

    assert first.status_code == 200
    assert first.json() == {
        "quotas": [
            {"purpose": "group_succeeded", "template_id": success, "remaining": 1},
            {"purpose": "group_failed", "template_id": failure, "remaining": 0},
        ]
    }
    assert [q["remaining"] for q in second.json()["quotas"]] == [2, 1]
    assert shown.json() == second.json()
    assert not SubscriptionQuota.objects.filter(template_id="someone-elses").exists()
    assert SubscriptionQuota.objects.get(user=shopper, template_id=success).granted_total == 2


def test_subscriptions_need_a_login_and_a_well_formed_answer(shopper_client, api_client):
    anonymous = api_client.post("/api/v1/subscriptions", {"results": {}}, format="json")
    not_a_dict = shopper_client.post("/api/v1/subscriptions", {"results": ["accept"]}, format="json")
    too_many = shopper_client.post(
        "/api/v1/subscriptions", {"results": {f"t{i}": "accept" for i in range(21)}}, format="json"
    )

    assert anonymous.status_code == 401
    assert (not_a_dict.status_code, error_code(not_a_dict)) == (400, "validation_error")
    assert (too_many.status_code, error_code(too_many)) == (400, "validation_error")


def test_a_message_spends_one_quota_and_reaches_wechat(campaign, wechat_sandbox):
    # given
    user = UserFactory()
    give_quota(user, 2)
    notification = notification_for(campaign, user)

    # when: sent, and the task delivered a second time
    first = send_group_notification.apply(args=(notification.pk,)).get()
    second = send_group_notification.apply(args=(notification.pk,)).get()

    # then
    assert (first, second) == ("sent", "sent")
    assert quota(user) == 1
    assert len(send_calls(wechat_sandbox)) == 1
    [message] = sent_messages()
    assert (message["touser"], message["template_id"]) == (user.openid, conf.success_template_id())
    assert message["data"]["thing1"] == {"value": campaign.product.title}
    assert message["miniprogram_state"] == "developer"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.sent_at is not None) == ("sent", 1, True)


def test_no_quota_no_send(campaign, wechat_sandbox):
    user = UserFactory()
    notification = notification_for(campaign, user)

    status = services.notification_send(notification_id=notification.pk)

    assert status == "no_quota"
    assert send_calls(wechat_sandbox) == []
    assert sent_messages() == []


def test_wechat_43101_clears_the_quota(campaign, wechat_sandbox):
    # given: our count says 3, but WeChat says the user has none (or refused)
    user = UserFactory(openid="refuse-user-1")
    give_quota(user, 3)
    notification = notification_for(campaign, user)

    status = services.notification_send(notification_id=notification.pk)

    assert status == "refused"
    row = SubscriptionQuota.objects.get(user=user)
    assert (row.remaining, row.last_errcode) == (0, 43101)
    notification.refresh_from_db()
    assert (notification.status, notification.errcode) == ("refused", 43101)
    assert sent_messages() == []


WECHAT = "https://api.weixin.qq.com"


@pytest.fixture
def real_wechat(settings):
    """The production path: no sandbox, WeChat itself (faked with `responses`)."""
    settings.WECHAT_SANDBOX = False
    settings.WECHAT_API_BASE_URL = WECHAT
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.POST, f"{WECHAT}/cgi-bin/stable_token", json={"access_token": "T1", "expires_in": 7200}
        )
        yield mock


def test_another_wechat_error_gives_the_quota_back(campaign, real_wechat):
    user = UserFactory()
    give_quota(user, 1)
    notification = notification_for(campaign, user)
    real_wechat.add(responses.POST, f"{WECHAT}{SEND}", json={"errcode": 47003, "errmsg": "argument invalid!"})

    status = services.notification_send(notification_id=notification.pk)

    assert status == "failed"
    assert quota(user) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.errcode) == ("failed", 47003)
    call = send_calls(real_wechat)[0]
    assert "access_token=T1" in call.request.url
    body = json.loads(call.request.body)
    assert (body["touser"], body["template_id"], body["lang"]) == (
        user.openid,
        conf.success_template_id(),
        "zh_CN",
    )


def test_wechat_busy_keeps_the_message_pending_with_its_quota_for_a_retry(campaign, real_wechat):
    # given: WeChat busy (-1) through call()'s own retries, then fine
    user = UserFactory()
    give_quota(user, 1)
    notification = notification_for(campaign, user)
    for _ in range(3):
        real_wechat.add(responses.POST, f"{WECHAT}{SEND}", json={"errcode": -1, "errmsg": "system busy"})
    real_wechat.add(responses.POST, f"{WECHAT}{SEND}", json={"errcode": 0, "errmsg": "ok"})

    # when
    with pytest.raises(services.NotificationRetry):
        services.notification_send(notification_id=notification.pk)
    pending_quota = quota(user)
    retried = services.notification_send(notification_id=notification.pk)

    # then
    assert pending_quota == 1
    assert retried == "sent"
    assert quota(user) == 0
    assert len(send_calls(real_wechat)) == 4


def test_the_sandbox_checks_the_token_and_the_message(wechat_sandbox, settings):
    bad_token = Client().post(
        f"/wechat-sandbox{SEND}?access_token=nope", {"touser": "x"}, content_type="application/json"
    )
    token = (
        Client()
        .post(
            "/wechat-sandbox/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": settings.WECHAT_APPID,
                "secret": settings.WECHAT_SECRET,
            },
            content_type="application/json",
        )
        .json()["access_token"]
    )

    def send(body):
        return (
            Client()
            .post(f"/wechat-sandbox{SEND}?access_token={token}", body, content_type="application/json")
            .json()
        )

    assert bad_token.json()["errcode"] == 40001
    assert send({"template_id": "t", "data": {}})["errcode"] == 40003
    assert send({"touser": "o", "data": {}})["errcode"] == 40037
    assert send({"touser": "o", "template_id": "t", "data": {"thing1": "x"}})["errcode"] == 47003
    assert send({"touser": "refuse-o", "template_id": "t", "data": {}})["errcode"] == 43101
    assert send({"touser": "o", "template_id": "t", "data": {"thing1": {"value": "x"}}})["errcode"] == 0
    assert [m["touser"] for m in sent_messages()] == ["o"]
