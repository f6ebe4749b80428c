"""The edge (issue 15): malformed requests answer 400 in the error shape, a lost database 503, and
Django's own 400/403/404/500 pages under /api/ answer the contract's shape too."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from apps.core import views
from tests.helpers import bearer_client, error_code

DEEP = ("[" * 3000 + "]" * 3000).encode()


def _post_raw(client, path: str, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", path, data=body, content_type=content_type)


@pytest.mark.django_db
def test_deeply_nested_json_on_login_is_400_not_500(api_client):
    response = _post_raw(api_client, "/api/v1/auth/wechat-login", DEEP)

    assert response.status_code == 400
    assert error_code(response) == "parse_error"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [("PATCH", "/api/v1/me"), ("POST", "/api/v1/orders")])
def test_deeply_nested_json_on_me_and_orders_is_400_not_500(shopper_client, method, path):
    response = shopper_client.generic(method, path, data=DEEP, content_type="application/json")

    assert response.status_code == 400
    assert error_code(response) == "parse_error"


@pytest.mark.django_db
def test_nesting_deeper_than_32_levels_is_refused_even_when_python_could_parse_it(shopper_client):
    body = json.dumps({"nickname": "x", "extra": json.loads("[" * 40 + "]" * 40)})

    response = shopper_client.generic("PATCH", "/api/v1/me", data=body, content_type="application/json")

    assert response.status_code == 400
    assert error_code(response) == "parse_error"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/v1/share-links/ab%00cd", "/api/v1/ops/orders/N%00O/ship", "/s/ab%00cd", "/api/v1/products?q=a%00"],
)
def test_a_nul_in_the_path_or_query_is_400(ops_client, path):
    response = ops_client.get(path) if "ship" not in path else ops_client.post(path, {}, format="json")

    assert response.status_code == 400
    if path.startswith("/api/"):
        assert error_code(response) == "bad_request"


@pytest.mark.django_db
def test_a_nul_in_a_header_is_400(shopper_client):
    response = shopper_client.post(
        "/api/v1/koc/withdrawals", {"amount_fen": 100}, format="json", HTTP_IDEMPOTENCY_KEY="k\x00"
    )

    assert response.status_code == 400
    assert error_code(response) == "bad_request"


@pytest.mark.django_db
def test_a_nul_inside_a_json_string_is_400(api_client, shopper_client):
    login = _post_raw(api_client, "/api/v1/auth/wechat-login", b'{"code": "a\\u0000b"}')
    nested = _post_raw(shopper_client, "/api/v1/orders", b'{"items": [{"sku_id": 1, "x\\u0000": 1}]}')

    assert (login.status_code, error_code(login)) == (400, "parse_error")
    assert (nested.status_code, error_code(nested)) == (400, "parse_error")


@pytest.mark.django_db
def test_invalid_utf8_is_400(api_client):
    response = _post_raw(api_client, "/api/v1/auth/wechat-login", b'{"code": "\xff\xfe"}')

    assert response.status_code == 400
    assert error_code(response) == "parse_error"


@pytest.mark.django_db
def test_a_3_mb_body_is_400_in_the_error_shape(api_client):
    body = json.dumps({"code": "x" * (3 * 1024 * 1024)}).encode()

    response = _post_raw(api_client, "/api/v1/auth/wechat-login", body)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == "request_too_large"


@pytest.mark.django_db
def test_django_400_under_api_is_the_error_shape(settings):
    # given: a Host the deploy does not serve (Django raises DisallowedHost, a SuspiciousOperation)
    settings.ALLOWED_HOSTS = ["shop.example.com"]

    response = Client(HTTP_HOST="evil.example.com").get("/api/v1/products")

    assert response.status_code == 400
    assert error_code(response) == "bad_request"


def test_django_403_and_csrf_failures_under_api_are_the_error_shape():
    request = RequestFactory().post("/api/v1/anything")

    forbidden = views.permission_denied(request, Exception())
    csrf = views.csrf_failure(request, reason="CSRF cookie not set.")

    assert (forbidden.status_code, json.loads(forbidden.content)["error"]["code"]) == (
        403,
        "permission_denied",
    )
    assert (csrf.status_code, json.loads(csrf.content)["error"]["code"]) == (403, "csrf_failed")


@pytest.mark.django_db
def test_a_bug_under_api_answers_500_in_the_error_shape(shopper, monkeypatch):
    from apps.accounts import apis

    def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(apis.MeApi, "get", broken)
    client = bearer_client(shopper)
    client.raise_request_exception = False

    response = client.get("/api/v1/me")

    assert response.status_code == 500
    assert response.json() == {"error": {"code": "server_error", "message": "服务器内部错误"}}


@pytest.mark.django_db
def test_html_pages_keep_djangos_own_404():
    response = Client().get("/admin-typo/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


_LOST_DATABASE = """
import django, json
django.setup()
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken
token = AccessToken()
token["user_id"] = 1
client = Client(raise_request_exception=False)
for path, headers in [("/api/v1/me", {"Authorization": f"Bearer {token}"}), ("/api/v1/products", {})]:
    response = client.get(path, headers=headers)
    print(response.status_code, response.headers.get("Retry-After"), json.dumps(response.json()))
"""


def test_a_lost_database_answers_503_service_unavailable():
    # given: the database refuses connections (nothing listens on port 1)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.test", "KOC_NO_BOOTSTRAP": "1"}
    env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/gone"

    # when
    result = subprocess.run(
        [sys.executable, "-c", _LOST_DATABASE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then: 503 in the error shape, with Retry-After, for an authenticated and a public endpoint
    assert result.returncode == 0, result.stderr
    body = json.dumps({"error": {"code": "service_unavailable", "message": "服务暂时不可用，请稍后再试"}})
    lines = [line for line in result.stdout.splitlines() if line[:3].isdigit()]
    assert lines == [f"503 5 {body}", f"503 5 {body}"]
