import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import Address
from tests.accounts.factories import AddressFactory, UserFactory
from tests.helpers import bearer_client, error_code

ADDRESS = {
    "name": "李四",
    "phone": "13900001111",
    "province": "浙江省",
    "city": "杭州市",
    "district": "余杭区",
    "detail": "五常街道 8 号",
}


@pytest.mark.django_db
def test_refresh_answers_a_new_access_token(api_client, shopper):
    refresh = str(RefreshToken.for_user(shopper))

    response = api_client.post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}  # rotation: a new refresh token too
    assert bearer_client_from(response.json()["access"]).get("/api/v1/me").json()["id"] == shopper.pk


def bearer_client_from(access):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.mark.django_db
def test_refresh_with_a_junk_token_is_401_token_invalid(api_client):
    response = api_client.post("/api/v1/auth/refresh", {"refresh": "junk"}, format="json")

    assert response.status_code == 401
    assert error_code(response) == "token_invalid"


@pytest.mark.django_db
def test_401_shape_without_credentials_and_with_a_bad_token(api_client):
    missing = api_client.get("/api/v1/me")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    bad = api_client.get("/api/v1/me")

    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"code", "message"}
    assert error_code(missing) == "not_authenticated"
    assert bad.status_code == 401
    assert error_code(bad) == "token_invalid"


@pytest.mark.django_db
def test_405_and_404_shapes(shopper_client):
    put = shopper_client.put("/api/v1/me", {}, format="json")
    unknown = shopper_client.get("/api/v1/no-such-thing")

    assert put.status_code == 405
    assert error_code(put) == "method_not_allowed"
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": "未找到"}}


@pytest.mark.django_db
def test_400_carries_the_fields(shopper_client):
    response = shopper_client.post(
        "/api/v1/me/addresses", {**ADDRESS, "phone": "123", "city": ""}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"phone", "city"}
    assert Address.objects.count() == 0


@pytest.mark.django_db
def test_a_bad_phone_is_refused_in_the_callers_language(shopper_client):
    body = {**ADDRESS, "phone": "123"}
    zh = shopper_client.post("/api/v1/me/addresses", body, format="json")
    en = shopper_client.post("/api/v1/me/addresses", body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert zh.json()["error"]["fields"]["phone"] == ["请输入 11 位中国大陆手机号"]
    assert en.json()["error"]["fields"]["phone"] == ["Enter an 11-digit mainland China mobile number."]
    assert Address.objects.count() == 0


@pytest.mark.django_db
def test_malformed_json_is_a_400_parse_error(shopper_client):
    response = shopper_client.generic(
        "POST", "/api/v1/me/addresses", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert error_code(response) == "parse_error"


@pytest.mark.django_db
def test_me_patch_updates_the_profile(shopper_client, shopper):
    response = shopper_client.patch(
        "/api/v1/me", {"nickname": "小美", "avatar_url": "https://example.com/a.png"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["nickname"] == "小美"
    shopper.refresh_from_db()
    assert (shopper.nickname, shopper.avatar_url) == ("小美", "https://example.com/a.png")


@pytest.mark.django_db
def test_the_first_address_is_the_default_and_a_new_default_replaces_it(shopper_client, shopper):
    first = shopper_client.post("/api/v1/me/addresses", ADDRESS, format="json").json()
    second = shopper_client.post(
        "/api/v1/me/addresses", {**ADDRESS, "is_default": True}, format="json"
    ).json()

    assert first["is_default"] is True
    assert second["is_default"] is True
    defaults = list(Address.objects.filter(user=shopper, is_default=True).values_list("id", flat=True))
    assert defaults == [second["id"]]
    listing = shopper_client.get("/api/v1/me/addresses").json()
    assert listing["count"] == 2
    assert [a["id"] for a in listing["results"]] == [second["id"], first["id"]]


@pytest.mark.django_db
def test_deleting_the_default_promotes_another(shopper_client, shopper):
    first = shopper_client.post("/api/v1/me/addresses", ADDRESS, format="json").json()
    second = shopper_client.post("/api/v1/me/addresses", ADDRESS, format="json").json()

    assert shopper_client.delete(f"/api/v1/me/addresses/{first['id']}").status_code == 204

    assert Address.objects.get(pk=second["id"]).is_default is True


@pytest.mark.django_db
def test_another_users_address_is_404_for_every_method(shopper_client):
    other = AddressFactory(user=UserFactory())
    url = f"/api/v1/me/addresses/{other.pk}"

    responses = [
        shopper_client.get(url),
        shopper_client.patch(url, {"name": "x"}, format="json"),
        shopper_client.delete(url),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert {error_code(r) for r in responses} == {"not_found"}
    other.refresh_from_db()
    assert other.name == "张三"
    assert bearer_client(other.user).get(url).status_code == 200


@pytest.mark.django_db
def test_pagination_shape_and_page_size_cap(shopper_client, shopper):
    AddressFactory.create_batch(3, user=shopper)

    page = shopper_client.get("/api/v1/me/addresses?page_size=2").json()
    capped = shopper_client.get("/api/v1/me/addresses?page_size=1000").json()

    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"].endswith("page=2&page_size=2")
    assert len(capped["results"]) == 3


@pytest.mark.django_db
def test_login_is_throttled_with_the_error_shape(api_client, wechat_sandbox, settings, monkeypatch):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_address": "2/min"}
    monkeypatch.setattr("apps.core.throttles.now", lambda: 1_800_000_030.0)  # no window ends mid-test

    codes = [api_client.post("/api/v1/auth/wechat-login", {"code": "x"}, format="json") for _ in range(3)]

    assert [r.status_code for r in codes] == [200, 200, 429]
    assert error_code(codes[2]) == "throttled"
    assert "Retry-After" in codes[2]


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["page_size", "page"])
@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5"])
def test_a_bad_page_or_page_size_is_a_400_naming_the_field(shopper_client, param, value):
    response = shopper_client.get(f"/api/v1/me/addresses?{param}={value}")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [param]


@pytest.mark.django_db
def test_a_page_past_the_end_is_404(shopper_client):
    response = shopper_client.get("/api/v1/me/addresses?page=2")

    assert response.status_code == 404
    assert error_code(response) == "not_found"
