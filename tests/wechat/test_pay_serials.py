"""WeChat Pay's two kinds of platform keys: during a merchant's migration from platform certificates
to the WeChat Pay public key, WeChat signs with either, and Wechatpay-Serial says which."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.test import Client

from apps.wechat import pay as wechatpay
from apps.wechat.sandbox import certs as sandbox_certs
from apps.wechat.sandbox.keys import sandbox_keys
from tests.wechat.test_pay_gateway import RESOURCE, notification


def test_a_notification_signed_with_the_platform_certificate_is_verified_by_its_serial(settings):
    # given: WeChat signs with the platform certificate (the merchant has not finished migrating)
    settings.WECHAT_SANDBOX_PAY_SIGNER = "certificate"
    headers, body = notification()

    # when
    notice = wechatpay.parse_payment_notification(headers=headers, body=body)

    # then: the serial is the certificate's (hex), not the public key's id, and it verifies
    assert headers["Wechatpay-Serial"] == sandbox_certs.sandbox_certificate().serial_no
    assert not headers["Wechatpay-Serial"].startswith("PUB_KEY_ID_")
    assert (notice.transaction_id, notice.amount_total) == (RESOURCE["transaction_id"], 9900)


def test_the_key_is_chosen_by_the_serial_not_tried_in_turn(settings):
    # given: a notification signed with the certificate's key, relabelled with the public key's id
    settings.WECHAT_SANDBOX_PAY_SIGNER = "certificate"
    headers, body = notification()
    relabelled = {**headers, "Wechatpay-Serial": sandbox_keys().platform_public_key_id}
    unknown = {**headers, "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}
    other_key_id = {**headers, "Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000000000"}

    # then: the public key does not verify the certificate's signature; unknown serials are refused
    with pytest.raises(wechatpay.NotificationRejected, match="通知验签失败"):
        wechatpay.verify_notification(headers=relabelled, body=body)
    for bad in (unknown, other_key_id):
        with pytest.raises(wechatpay.NotificationRejected, match="平台证书序列号不符"):
            wechatpay.verify_notification(headers=bad, body=body)


def test_an_expired_platform_certificate_is_not_trusted(settings):
    # given: the merchant's configured certificate has expired
    cert = sandbox_certs.sandbox_certificate()
    key = serialization.load_pem_private_key(cert.private_key.encode(), password=None)
    old = x509.load_pem_x509_certificate(cert.certificate.encode())
    expired = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.issuer)
        .public_key(old.public_key())
        .serial_number(old.serial_number)
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC))
        .sign(key, hashes.SHA256())
    )
    config = wechatpay.pay_config()
    config = wechatpay.PayConfig(
        **{
            **config.__dict__,
            "platform_certificates": expired.public_bytes(serialization.Encoding.PEM).decode(),
        }
    )

    assert wechatpay._platform_key_for(cert.serial_no, config) is None
    assert wechatpay._platform_key_for(config.platform_public_key_id, config) is not None


@pytest.mark.django_db
def test_answers_and_notifications_signed_with_the_certificate_pass_end_to_end(settings, wechat_sandbox):
    # given: the sandbox signs everything with its platform certificate
    settings.WECHAT_SANDBOX_PAY_SIGNER = "certificate"
    from tests.shop.factories import make_order

    order = make_order()

    # when: a prepay (an answer wechatpayv3 verifies) and the shopper's payment (a notification)
    prepay_id = wechatpay.jsapi_prepay(
        out_trade_no=order.no,
        description="tea",
        amount_fen=order.total_fen,
        openid="sandbox-x",
        notify_url="http://testserver/api/v1/payments/wechat/notify",
    )
    confirm = Client().post(
        "/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json"
    )

    # then: both accepted; the order is paid
    assert confirm.status_code == 200
    assert confirm["Wechatpay-Serial"] == sandbox_certs.sandbox_certificate().serial_no
    assert confirm.json()["notify_status"] == 204
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", order.total_fen)
