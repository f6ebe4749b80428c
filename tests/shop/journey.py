"""Steps of the shopper's path that several tests take."""

from django.test import Client


def pay_through_sandbox(client, order_id: int) -> tuple[dict, dict]:
    """Ask our API for the wx.requestPayment arguments, then "pay" them in the sandbox.

    Answers (the arguments, the sandbox's confirm answer {"transaction_id", "notify_status"}).
    """
    response = client.post(f"/api/v1/orders/{order_id}/pay")
    assert response.status_code == 200, response.content
    params = response.json()
    prepay_id = params["package"].removeprefix("prepay_id=")
    confirm = Client().post(
        "/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json"
    )
    assert confirm.status_code == 200, confirm.content
    return params, confirm.json()
