"""The landing page /s/{code}: the card, the sharer, and a button that opens the mini-program."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from PIL import Image

from apps.sharing.models import ShareLink, ShareVisit
from apps.sharing.services.visits import visits_flush
from tests.groupbuys.factories import CampaignFactory
from tests.sharing.factories import make_koc_user, make_link, make_product

URLLINK_CALL = "/wechat-sandbox/wxa/generate_urllink"

pytest_plugins = ["tests.browser_fixtures"]


# Two different characters drawn in the title's font differ unless both are the same .notdef box.
DRAWS_CHINESE = """() => {
  const font = getComputedStyle(document.querySelector('#product-title')).fontFamily;
  const draw = (text) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const context = canvas.getContext('2d');
    context.font = `48px ${font}`;
    context.fillText(text, 4, 52);
    return canvas.toDataURL();
  };
  return draw('中') !== draw('国');
}"""


def urllink_calls(mock) -> list:
    return [call for call in mock.calls if URLLINK_CALL in call.request.url]


def sandbox_url_link(mock) -> str:
    [call] = urllink_calls(mock)
    return json.loads(call.response.content)["url_link"]


@pytest.mark.django_db
def test_the_page_shows_the_product_the_price_the_sharer_and_the_open_button(client, wechat_sandbox):
    # given
    koc = make_koc_user(nickname="小红")
    product = make_product(title="明前龙井 250g", price_fen=9900, picture=True)
    link = make_link(sharer=koc, product=product)

    # when
    response = client.get(f"/s/{link.code}")

    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert '<h1 id="product-title">明前龙井 250g</h1>' in page
    assert '<span class="amount">99.00</span>' in page
    assert "小红 推荐" in page
    assert f'href="{sandbox_url_link(wechat_sandbox)}"' in page
    assert link.image_url and f'src="{link.image_url}"' in page


def _element(page: str, element_id: str) -> str:
    """The inner HTML of the element with that id (the landing page nests no element in itself)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    assert match, f"no #{element_id}"
    return match.group(2)


def _text(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", fragment).strip()


@pytest.mark.django_db
def test_a_group_buys_page_headlines_the_group_price_with_the_solo_price_struck_through(
    client, wechat_sandbox
):
    # given: the demo's group buy, 3 people at 69.00 where one alone pays 99.00
    campaign = CampaignFactory(group_price_fen=6900, group_size=3, sku__price_fen=9900)
    link = make_link(sharer=make_koc_user(nickname="小红"), target="group_buy", target_id=campaign.pk)

    # when
    page = client.get(f"/s/{link.code}").content.decode()

    # then the headline price is the group's, behind its tag, and the solo price is struck through
    headline = _element(page, "price")
    assert _text(headline) == "3人团¥69.00"
    assert '<span class="amount">69.00</span>' in headline
    solo = _element(page, "solo-price")
    assert _text(solo) == "单买价 ¥99.00"
    assert re.findall(r"<s>(.*?)</s>", solo) == ["¥99.00"]
    assert '<meta property="og:description" content="小红 推荐 · 3人团 ¥69.00（单买 ¥99.00）">' in page


@pytest.mark.django_db
def test_a_products_page_shows_one_price_and_nothing_struck_through(client, wechat_sandbox):
    # given
    link = make_link(sharer=make_koc_user(), product=make_product(price_fen=9900))

    # when
    page = client.get(f"/s/{link.code}").content.decode()

    # then
    assert _text(_element(page, "price")) == "¥99.00"
    assert 'id="solo-price"' not in page
    assert "<s>" not in page


@pytest.mark.django_db
def test_the_url_link_opens_the_links_page_with_its_code_and_is_cached(client, wechat_sandbox, settings):
    # given
    settings.WECHAT_MINIPROGRAM_STATE = "trial"
    link = make_link(sharer=make_koc_user())

    # when
    client.get(f"/s/{link.code}")
    client.get(f"/s/{link.code}")

    # then: WeChat was asked once, for the product page with the code in the query
    [call] = urllink_calls(wechat_sandbox)
    asked = json.loads(call.request.body)
    assert asked["path"] == "pages/product/index"
    assert parse_qs(asked["query"]) == {"id": [str(link.target_id)], "share_code": [link.code]}
    assert (asked["env_version"], asked["expire_type"], asked["expire_interval"]) == ("trial", 1, 30)
    link.refresh_from_db()
    assert link.url_link == json.loads(call.response.content)["url_link"]
    assert timedelta(days=29) < link.url_link_expires_at - timezone.now() <= timedelta(days=30)


@pytest.mark.django_db
def test_a_url_link_near_its_expiry_is_replaced(client, wechat_sandbox):
    # given
    link = make_link(sharer=make_koc_user())
    ShareLink.objects.filter(pk=link.pk).update(
        url_link="https://wxaurl.cn/old", url_link_expires_at=timezone.now() + timedelta(hours=20)
    )

    # when
    page = client.get(f"/s/{link.code}").content.decode()

    # then
    assert len(urllink_calls(wechat_sandbox)) == 1
    assert "https://wxaurl.cn/old" not in page
    link.refresh_from_db()
    assert link.url_link != "https://wxaurl.cn/old"


@pytest.mark.django_db
def test_when_wechat_fails_the_page_still_shows_the_product(client, monkeypatch):
    # given: WeChat is busy
    from apps.sharing import urllink
    from apps.wechat.errors import WeChatBusy

    def busy(**kwargs):
        raise WeChatBusy()

    monkeypatch.setattr(urllink, "generate_url_link", busy)
    link = make_link(sharer=make_koc_user(), product=make_product(title="碧螺春"))

    # when
    response = client.get(f"/s/{link.code}")

    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "碧螺春" in page
    assert 'aria-disabled="true"' in page
    assert "wxaurl.cn" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["nope", "ZZZZZZZZ", "abc.def"])
def test_unknown_codes_get_a_friendly_404_page(client, code):
    response = client.get(f"/s/{code}")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "这个分享链接不存在或已失效" in response.content.decode()
    assert not ShareVisit.objects.exists()


@pytest.mark.django_db
def test_a_gone_product_gets_the_404_page(client):
    product = make_product()
    link = make_link(sharer=make_koc_user(), product=product)
    product.is_active = False
    product.save()

    response = client.get(f"/s/{link.code}")

    assert response.status_code == 404
    assert "已下架" in response.content.decode()


@pytest.mark.django_db
def test_opening_the_page_counts_a_visit_and_binds_nobody(client, wechat_sandbox):
    # given
    link = make_link(sharer=make_koc_user())

    # when
    client.get(f"/s/{link.code}", HTTP_USER_AGENT="iPhone")
    client.get(f"/s/{link.code}", HTTP_USER_AGENT="iPhone")

    # then
    visits_flush()  # with Redis, visits reach the database in batches
    link.refresh_from_db()
    assert link.visits == 1
    assert ShareVisit.objects.get().channel == "landing"
    from apps.sharing.models import CustomerBinding

    assert not CustomerBinding.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_landing_page_in_a_phone_browser(live_server, browser_page, screenshot, wechat_sandbox, settings):
    # given: pictures are served by the live server
    settings.PUBLIC_BASE_URL = live_server.url
    koc = make_koc_user(nickname="小红", avatar_url="")
    product = make_product(title="明前龙井 250g 西湖产区", price_fen=9900, picture=True)
    link = make_link(sharer=koc, product=product)

    # when
    response = browser_page.goto(f"{live_server.url}/s/{link.code}")

    # then
    assert response is not None and response.status == 200
    title = browser_page.locator("#product-title")
    assert title.is_visible()
    assert title.inner_text() == "明前龙井 250g 西湖产区"
    assert browser_page.locator("#price").inner_text().replace("\n", "") == "¥99.00"
    assert browser_page.locator("#sharer-name").inner_text() == "小红 推荐"
    button = browser_page.locator("#open-miniprogram")
    assert button.is_visible()
    assert button.get_attribute("href") == sandbox_url_link(wechat_sandbox)
    # the picture loaded, and the title is drawn with real Chinese glyphs (not boxes)
    assert browser_page.evaluate("document.querySelector('img.photo').naturalWidth") == 500
    assert browser_page.evaluate(DRAWS_CHINESE)
    path = screenshot("share-landing")
    with Image.open(path) as shot:
        assert shot.size == (390 * 2, 844 * 2)


@pytest.mark.django_db(transaction=True)
def test_a_group_buys_landing_page_in_a_phone_browser(
    live_server, browser_page, screenshot, wechat_sandbox, settings
):
    # given
    settings.PUBLIC_BASE_URL = live_server.url
    campaign = CampaignFactory(group_price_fen=6900, group_size=3, sku__price_fen=9900)
    link = make_link(sharer=make_koc_user(nickname="小红"), target="group_buy", target_id=campaign.pk)

    # when
    browser_page.goto(f"{live_server.url}/s/{link.code}")

    # then the group price is the big red headline and the solo price is drawn smaller and struck through
    headline = browser_page.locator("#price .amount")
    solo = browser_page.locator("#solo-price s")
    assert headline.inner_text() == "69.00"
    assert solo.inner_text() == "¥99.00"
    assert solo.evaluate("e => getComputedStyle(e).textDecorationLine") == "line-through"
    assert headline.evaluate("e => getComputedStyle(e).color") == "rgb(226, 35, 26)"
    headline_size = headline.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    solo_size = solo.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert headline_size >= 2 * solo_size
    screenshot("share-landing-group-buy")


@pytest.mark.django_db(transaction=True)
def test_the_404_page_in_a_phone_browser(live_server, browser_page, screenshot):
    response = browser_page.goto(f"{live_server.url}/s/ZZZZZZZZ")

    assert response is not None and response.status == 404
    assert browser_page.locator("#not-found h1").inner_text() == "这个分享链接不存在或已失效"
    screenshot("share-landing-404")
