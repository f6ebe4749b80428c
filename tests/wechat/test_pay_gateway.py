"""The WeChat Pay gateway (apps/wechat/pay.py) against the sandbox's own keys and signatures."""

import json
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from apps.wechat import pay as wechatpay
from apps.wechat.sandbox import keys as sandbox_keys_module
from apps.wechat.sandbox import pay as sandbox

RESOURCE = {
    "appid": "wx-sandbox-appid",
    "mchid": "1900000001",
    "out_trade_no": "20260101000000000001",
    "transaction_id": "4200000000000000000000000001",
    "trade_state": "SUCCESS",
    "payer": {"openid": "sandbox-a"},
    "amount": {"total": 9900, "payer_total": 9900, "currency": "CNY"},
    "success_time": "2026-01-01T10:00:00+08:00",
}


def notification(**kwargs):
    return sandbox.build_notification(
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=kwargs.pop("resource", RESOURCE),
        **kwargs,
    )


def test_a_genuine_notification_is_verified_and_decrypted():
    headers, body = notification()

    notice = wechatpay.parse_payment_notification(headers=headers, body=body)

    assert notice.out_trade_no == "20260101000000000001"
    assert (notice.amount_total, notice.trade_state, notice.payer_openid) == (9900, "SUCCESS", "sandbox-a")
    assert notice.success_time.isoformat() == "2026-01-01T10:00:00+08:00"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: ({**h, "Wechatpay-Signature": "bm90IGEgc2lnbmF0dXJl"}, b),
        lambda h, b: ({**h, "Wechatpay-Signature": "***"}, b),
        lambda h, b: (h, b.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCEZZ")),
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "Wechatpay-Nonce": "another-nonce"}, b),
        lambda h, b: ({**h, "Wechatpay-Timestamp": str(int(h["Wechatpay-Timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "Wechatpay-Serial": "PUB_KEY_ID_SOMEONE_ELSE"}, b),
        lambda h, b: ({**h, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Timestamp"}, b),
    ],
    ids=[
        "forged-signature",
        "garbage-signature",
        "altered-body",
        "one-more-byte",
        "other-nonce",
        "other-timestamp",
        "other-serial",
        "other-algorithm",
        "no-timestamp",
    ],
)
def test_anything_altered_is_rejected(tamper):
    headers, body = tamper(*notification())

    with pytest.raises(wechatpay.NotificationRejected):
        wechatpay.verify_notification(headers=headers, body=body)


def test_the_timestamp_must_be_within_five_minutes_either_way():
    now = time.time()
    ok_old = notification(timestamp=int(now) - 299)
    ok_new = notification(timestamp=int(now) + 299)
    stale = notification(timestamp=int(now) - 301)
    early = notification(timestamp=int(now) + 301)

    wechatpay.verify_notification(headers=ok_old[0], body=ok_old[1], now=now)
    wechatpay.verify_notification(headers=ok_new[0], body=ok_new[1], now=now)
    for headers, body in (stale, early):
        with pytest.raises(wechatpay.NotificationRejected, match="通知已过期"):
            wechatpay.verify_notification(headers=headers, body=body, now=now)


def test_a_signed_but_undecryptable_resource_is_invalid_not_rejected():
    _headers, body = notification()
    envelope = json.loads(body)
    envelope["resource"]["associated_data"] = "something-else"  # GCM authenticates it
    text = json.dumps(envelope)

    with pytest.raises(wechatpay.NotificationInvalid):
        wechatpay.verify_notification(headers=sandbox.signed_headers(text), body=text.encode())


def test_a_notification_without_an_amount_is_invalid():
    resource = {k: v for k, v in RESOURCE.items() if k != "amount"}
    headers, body = notification(resource=resource)

    with pytest.raises(wechatpay.NotificationInvalid):
        wechatpay.parse_payment_notification(headers=headers, body=body)


@pytest.mark.django_db
def test_prepay_and_refund_answers_are_signature_checked(wechat_sandbox, monkeypatch):
    # given: the sandbox's answers carry a signature that is not WeChat Pay's
    monkeypatch.setattr(sandbox, "sign", lambda message: "Zm9yZ2Vk")

    # then: wechatpayv3 refuses the answer and the gateway reports an unknown outcome, never a 500
    with pytest.raises(wechatpay.AnswerNotVerified) as caught:
        wechatpay.jsapi_prepay(
            out_trade_no="20260101000000000009",
            description="茶",
            amount_fen=100,
            openid="sandbox-a",
            notify_url="http://testserver/api/v1/payments/wechat/notify",
            time_expire=timezone.now() + timedelta(minutes=30),
        )
    assert (caught.value.status_code, caught.value.code) == (503, "wechatpay_unavailable")
    assert caught.value.wechat_code == "BAD_SIGNATURE"


@pytest.mark.django_db
def test_the_sandbox_refuses_requests_not_signed_with_the_merchant_key(wechat_sandbox):
    url = "http://testserver/wechat-sandbox/v3/pay/transactions/jsapi"
    auth = (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="abc",signature="Zm9yZ2Vk",'
        f'timestamp="{int(time.time())}",serial_no="{sandbox_keys_module.sandbox_keys().merchant_serial_no}"'
    )

    unsigned = requests.post(url, json={"appid": "x"}, timeout=5)
    forged = requests.post(url, json={"appid": "x"}, headers={"Authorization": auth}, timeout=5)

    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGN_ERROR")
    assert (forged.status_code, forged.json()["message"]) == (401, "错误的签名，验签失败")


@pytest.mark.django_db
def test_wechat_errors_come_back_with_their_code(wechat_sandbox):
    with pytest.raises(wechatpay.WeChatPayError) as caught:
        wechatpay.refund_create(
            out_refund_no="R1",
            out_trade_no="20990101000000000000",
            amount_fen=100,
            total_fen=100,
            reason="x",
            notify_url="http://testserver/api/v1/payments/wechat/refund-notify",
        )

    assert (caught.value.wechat_code, caught.value.http_status) == ("RESOURCE_NOT_EXISTS", 404)


@pytest.mark.django_db
def test_an_unreachable_wechat_is_unavailable(settings):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(wechatpay.WeChatPayUnavailable):
        wechatpay.close_transaction(out_trade_no="20260101000000000001")


def test_production_keys_come_from_settings(settings):
    keys = sandbox_keys_module.generate()
    settings.WECHAT_SANDBOX = False
    settings.WECHATPAY_PRIVATE_KEY = keys.merchant_private_key
    settings.WECHATPAY_CERT_SERIAL_NO = keys.merchant_serial_no
    settings.WECHATPAY_APIV3_KEY = keys.apiv3_key
    settings.WECHATPAY_PUBLIC_KEY = keys.platform_public_key
    settings.WECHATPAY_PUBLIC_KEY_ID = keys.platform_public_key_id
    settings.WECHATPAY_API_BASE_URL = "https://api.mch.weixin.qq.com"

    config = wechatpay.pay_config()
    client = wechatpay.client()

    assert config.platform_public_key_id == keys.platform_public_key_id
    assert config.api_base == "https://api.mch.weixin.qq.com"
    assert client._core._gate_way == "https://api.mch.weixin.qq.com"
    assert client._core._public_key_id == keys.platform_public_key_id


def test_sandbox_keys_are_made_once_and_shared_through_the_file(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(sandbox_keys_module, "_cache", {})

    first = sandbox_keys_module.sandbox_keys()
    monkeypatch.setattr(sandbox_keys_module, "_cache", {})  # another process
    second = sandbox_keys_module.sandbox_keys()

    assert first == second
    path = tmp_path / "wechat-sandbox-keys.json"
    assert json.loads(path.read_text())["platform_public_key_id"] == first.platform_public_key_id
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(first.apiv3_key) == 32
    assert [p.name for p in tmp_path.iterdir()] == ["wechat-sandbox-keys.json"]  # no temporary left


def test_the_loser_of_a_creation_race_uses_the_winners_keys(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(sandbox_keys_module, "_cache", {})
    winner = sandbox_keys_module.generate()
    real_generate = sandbox_keys_module.generate

    def generate_while_another_process_wins():
        (tmp_path / "wechat-sandbox-keys.json").write_text(json.dumps(winner.__dict__))
        return real_generate()

    path = tmp_path / "wechat-sandbox-keys.json"
    assert sandbox_keys_module._create(path, generate_while_another_process_wins) == winner


def test_missing_production_keys_are_a_configuration_error_not_a_certificate_download(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.WECHAT_SANDBOX = False
    settings.WECHATPAY_PUBLIC_KEY = ""

    with pytest.raises(ImproperlyConfigured, match="platform_public_key"):
        wechatpay.client()
