"""QR codes from WeChat once per link, posters drawn once per content, both served from storage."""

from __future__ import annotations

import io
import threading

import pytest
import zxingcpp
from django.db import connection
from django.test import Client
from PIL import Image

from apps.sharing import services
from apps.sharing.models import ShareLink
from apps.sharing.posters import POSTER_SIZE, QR_BOX
from apps.sharing.tasks import render_poster
from apps.shop.models import Sku
from tests.browser_fixtures import artifacts_dir
from tests.sharing.factories import make_koc_user, make_link, make_product

QR_CALL = "/wechat-sandbox/wxa/getwxacodeunlimit"


def wechat_qr_calls(mock) -> int:
    return sum(1 for call in mock.calls if QR_CALL in call.request.url)


def decoded(png: bytes, box=None) -> list[str]:
    image = Image.open(io.BytesIO(png))
    if box is not None:
        image = image.crop(box)
    return [code.text for code in zxingcpp.read_barcodes(image)]


@pytest.mark.django_db
def test_the_qr_code_is_fetched_from_wechat_once_and_then_served_from_storage(api_client, wechat_sandbox):
    # given
    link = make_link(sharer=make_koc_user())
    url = f"/api/v1/share-links/{link.code}/qr.png"

    # when
    first = api_client.get(url)
    second = api_client.get(url, HTTP_ACCEPT="image/webp,image/*")

    # then
    assert (first.status_code, first["Content-Type"]) == (200, "image/png")
    assert second.status_code == 200
    assert first.content == second.content
    assert decoded(first.content) == [f"pages/product/index?scene=c={link.code}"]
    assert wechat_qr_calls(wechat_sandbox) == 1
    link.refresh_from_db()
    assert link.qr.name == f"share/qr/{link.code}.png"
    assert link.qr.storage.exists(link.qr.name)


@pytest.mark.django_db
def test_wechat_is_told_the_scene_page_env_version_and_check_path(wechat_sandbox, settings):
    # given
    import json

    settings.WECHAT_MINIPROGRAM_STATE = "formal"
    link = make_link(sharer=make_koc_user())

    # when
    services.qr_ensure(link_id=link.pk)

    # then
    [call] = [c for c in wechat_sandbox.calls if QR_CALL in c.request.url]
    body = json.loads(call.request.body)
    assert {k: body[k] for k in ("scene", "page", "env_version", "check_path")} == {
        "scene": f"c={link.code}",
        "page": "pages/product/index",
        "env_version": "release",
        "check_path": True,
    }


@pytest.mark.django_db
def test_a_lost_qr_file_is_fetched_again(api_client, wechat_sandbox):
    # given
    link = services.qr_ensure(link_id=make_link(sharer=make_koc_user()).pk)
    link.qr.storage.delete(link.qr.name)

    # when
    response = api_client.get(f"/api/v1/share-links/{link.code}/qr.png")

    # then
    assert response.status_code == 200
    assert decoded(response.content) == [f"pages/product/index?scene=c={link.code}"]
    assert wechat_qr_calls(wechat_sandbox) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["qr.png", "poster.png"])
def test_images_of_unknown_codes_are_json_404s(api_client, path):
    response = api_client.get(f"/api/v1/share-links/ZZZZZZZZ/{path}", HTTP_ACCEPT="image/*")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_wechat_error_is_a_clean_error_not_a_500(api_client, wechat_sandbox, monkeypatch):
    # given: WeChat refuses (the sandbox answers 40169 for a scene it rejects)
    link = make_link(sharer=make_koc_user())
    ShareLink.objects.filter(pk=link.pk).update(scene="bad scene with spaces")

    # when
    response = api_client.get(f"/api/v1/share-links/{link.code}/qr.png")

    # then
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "wechat_error"
    link.refresh_from_db()
    assert not link.qr


@pytest.mark.django_db
def test_the_poster_shows_the_code_that_opens_the_link(api_client, wechat_sandbox):
    # given
    koc = make_koc_user(nickname="小红")
    link = make_link(sharer=koc, product=make_product(title="明前龙井 250g", picture=True))

    # when
    response = api_client.get(f"/api/v1/share-links/{link.code}/poster.png")

    # then
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    poster = Image.open(io.BytesIO(response.content))
    assert (poster.format, poster.size) == ("PNG", POSTER_SIZE)
    assert decoded(response.content, QR_BOX) == [f"pages/product/index?scene={link.scene}"]
    (artifacts_dir() / "share-poster.png").write_bytes(response.content)  # for people to look at


@pytest.mark.django_db
def test_the_poster_is_drawn_once_and_redrawn_when_the_price_changes(
    api_client, wechat_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    # given
    from apps.sharing.services import media

    drawn = []
    real = media.render_poster
    monkeypatch.setattr(media, "render_poster", lambda **kw: drawn.append(kw["price_fen"]) or real(**kw))
    product = make_product(price_fen=9900)
    link = make_link(sharer=make_koc_user(), product=product)
    url = f"/api/v1/share-links/{link.code}/poster.png"

    # when
    first = api_client.get(url)
    again = api_client.get(url)
    Sku.objects.filter(product=product).update(price_fen=8800)
    with django_capture_on_commit_callbacks(execute=True):
        cheaper = api_client.get(url)

    # then
    assert drawn == [9900, 8800]
    assert first.content == again.content != cheaper.content
    assert wechat_qr_calls(wechat_sandbox) == 1  # the code is reused for the new poster
    link.refresh_from_db()
    assert link.poster.storage.exists(link.poster.name)
    assert len(link.poster.storage.listdir("share/posters")[1]) == 1  # the old poster was removed


@pytest.mark.django_db
def test_the_poster_task_runs_when_a_link_is_made_and_the_request_then_serves_it(
    api_client, wechat_sandbox, celery_eager, django_capture_on_commit_callbacks
):
    # given
    from tests.helpers import bearer_client

    koc = make_koc_user()
    product = make_product(picture=True)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        created = bearer_client(koc).post(
            "/api/v1/share-links", {"target": "product", "target_id": product.pk}, format="json"
        )
    link = ShareLink.objects.get(code=created.json()["code"])
    served = api_client.get(f"/api/v1/share-links/{link.code}/poster.png")

    # then
    assert link.poster and link.qr
    with link.poster.open("rb") as stored:
        assert served.content == stored.read()
    assert wechat_qr_calls(wechat_sandbox) == 1
    assert decoded(served.content, QR_BOX) == [f"pages/product/index?scene={link.scene}"]


@pytest.mark.django_db
def test_the_poster_task_is_idempotent_and_quiet_for_gone_targets(wechat_sandbox):
    # given
    product = make_product()
    link = make_link(sharer=make_koc_user(), product=product)

    # when
    first = render_poster.run(link.pk)
    link.refresh_from_db()
    name = link.poster.name
    second = render_poster.run(link.pk)
    product.is_active = False
    product.save()
    gone = render_poster.run(link.pk)
    missing = render_poster.run(999_999)

    # then
    assert (first, second, gone, missing) == (True, True, False, False)
    link.refresh_from_db()
    assert link.poster.name == name
    assert wechat_qr_calls(wechat_sandbox) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_first_requests_make_one_wechat_call(wechat_sandbox):
    # given
    link = make_link(sharer=make_koc_user())
    url = f"/api/v1/share-links/{link.code}/qr.png"
    start = threading.Barrier(50)
    answers: list[tuple[int, bytes]] = []

    def fetch():
        try:
            start.wait()
            response = Client().get(url)
            answers.append((response.status_code, response.content))
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=fetch) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert len(answers) == 50
    assert {status for status, _ in answers} == {200}
    assert len({content for _, content in answers}) == 1
    assert decoded(answers[0][1]) == [f"pages/product/index?scene={link.scene}"]
    assert wechat_qr_calls(wechat_sandbox) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_poster_requests_draw_it_once(wechat_sandbox, monkeypatch):
    # given
    from apps.sharing.services import media

    drawn = []
    real = media.render_poster
    monkeypatch.setattr(media, "render_poster", lambda **kw: drawn.append(1) or real(**kw))
    link = make_link(sharer=make_koc_user())
    url = f"/api/v1/share-links/{link.code}/poster.png"
    start = threading.Barrier(10)
    statuses: list[int] = []

    def fetch():
        try:
            start.wait()
            statuses.append(Client().get(url).status_code)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=fetch) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert statuses == [200] * 10
    assert len(drawn) == 1
    assert wechat_qr_calls(wechat_sandbox) == 1
