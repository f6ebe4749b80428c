"""The console in a real browser: an admin's round (dashboard, a KOC approval, shipping an order),
then a brand operator who sees only its brand. Headless Chromium at desktop size; screenshots go to
test-artifacts/console-*.png."""

import pytest

from apps.kocs import services as koc_services
from apps.kocs.models import Koc
from apps.shop.models import Order
from tests.accounts.factories import UserFactory
from tests.browser_fixtures import DESKTOP_VIEWPORT, admin_log_in, desktop_context, save_screenshot
from tests.console.roles import brand_operator
from tests.kocs.factories import make_leader
from tests.shop.factories import BrandFactory, SkuFactory, make_paid_order

pytest_plugins = ["tests.browser_fixtures"]


def _run_action(page, action: str, pk: int) -> None:
    page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


@pytest.mark.django_db(transaction=True)
def test_an_admins_round_and_a_brand_operators_view(live_server, desktop_page):
    # given: two brands with a paid order each, and a pending KOC application
    page, base = desktop_page, live_server.url
    UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None)
    tea, wine = BrandFactory(name="西湖茶社"), BrandFactory(name="绍兴酒坊")
    order_tea = make_paid_order(
        sku=SkuFactory(product__brand=tea, product__title="明前龙井 250g"), quantity=2
    )
    order_wine = make_paid_order(
        sku=SkuFactory(product__brand=wine, product__title="十年花雕", price_fen=15800)
    )
    applicant = koc_services.koc_apply(
        user=UserFactory(nickname="宝妈小王"), real_name="王五", invite_code=make_leader().invite_code
    )
    brand_operator(tea, username="tea-op")

    # when: the admin logs in through the form; the console is the index
    admin_log_in(page, base, "boss")

    # then: the charts are drawn, with today's sales in them
    charts = page.locator("svg.chart")
    assert charts.count() == 5
    gmv = [float(v) for v in charts.first.get_attribute("data-values").split(",")]
    assert gmv[-1] == 198.0 + 158.0  # today: both orders, in yuan
    assert page.locator("svg.chart polyline, svg.chart path, svg.chart rect").count() > 0
    save_screenshot(page, "console-dashboard", full_page=True)

    # when: the admin approves the application with the changelist's action
    page.goto(f"{base}/admin/kocs/koc/?status__exact=pending")
    _run_action(page, "approve", applicant.pk)

    # then: the action asks first, naming the applicant, and approves only once confirmed
    assert "将通过 1 个 KOC 申请" in page.locator("#confirm-effects").inner_text()
    assert Koc.objects.get(pk=applicant.pk).status == "pending"
    page.click("#confirm-submit")

    # then
    assert "已通过: 1 个" in page.locator("ul.messagelist").inner_text()
    assert Koc.objects.get(pk=applicant.pk).status == "approved"
    save_screenshot(page, "console-koc-approved")

    # when: the admin ships the tea order on the action's page (carrier, tracking number)
    page.goto(f"{base}/admin/shop/order/?status__exact=paid")
    _run_action(page, "ship_orders", order_tea.pk)
    page.fill("input[name=carrier]", "顺丰速运")
    page.fill(f"input[name=tracking_{order_tea.pk}]", "SF1234567890")
    page.click("input[type=submit][value='确认发货']")

    # then
    assert "已发货 1 单" in page.locator("ul.messagelist").inner_text()
    shipped = Order.objects.get(pk=order_tea.pk)
    assert (shipped.status, shipped.carrier, shipped.tracking_no) == ("shipped", "顺丰速运", "SF1234567890")
    page.goto(f"{base}/admin/shop/order/{order_tea.pk}/change/")
    assert "SF1234567890" in page.content()
    save_screenshot(page, "console-order-shipped", full_page=True)

    # when: the admin logs out and the tea brand's operator logs in
    page.click("#logout-form button")
    page.wait_for_selector("text=登录")
    admin_log_in(page, base, "tea-op")

    # then: its dashboard counts its brand only, its lists hold only its brand's rows
    gmv = [float(v) for v in page.locator("svg.chart").first.get_attribute("data-values").split(",")]
    assert gmv[-1] == 198.0
    assert "十年花雕" not in page.content()
    page.goto(f"{base}/admin/shop/order/")
    orders = page.locator("#result_list").inner_text()
    assert order_tea.no in orders
    assert order_wine.no not in orders
    save_screenshot(page, "console-brand-operator-orders", full_page=True)
    page.goto(f"{base}/admin/shop/product/")
    products = page.locator("#result_list").inner_text()
    assert "明前龙井 250g" in products
    assert "十年花雕" not in products
    save_screenshot(page, "console-brand-operator-products", full_page=True)


# WCAG's contrast ratio between an element's text colour (SVG fill, or CSS colour) and the first
# opaque background behind it.
CONTRAST = """(element) => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const style = getComputedStyle(element);
  const ink = rgb(element instanceof SVGElement ? style.fill : style.color);
  let node = element, background = [255, 255, 255];
  while (node && node.nodeType === 1) {
    const value = rgb(getComputedStyle(node).backgroundColor);
    if (value.length === 3 || (value.length === 4 && value[3] > 0.5)) {
      background = value.slice(0, 3);
      break;
    }
    node = node.parentElement;
  }
  const [light, dark] = [luminance(ink), luminance(background)].sort((a, b) => b - a);
  return {text: element.textContent, ink: ink.join(","), ratio: (light + 0.05) / (dark + 0.05)};
}"""


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_is_legible_in_both_colour_schemes_and_uses_the_full_width(
    live_server, browser_page, scheme
):
    # given: sales by two KOCs, so the bar charts have names and amounts to label
    UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None)
    sku = SkuFactory(product__title="明前龙井 250g", price_fen=12_345_600, stock=50)
    for quantity in (1, 2):
        order = make_paid_order(sku=sku, quantity=quantity)
        Order.objects.filter(pk=order.pk).update(attributed_koc_id=make_leader().pk)
    with desktop_context(browser_page, color_scheme=scheme) as page:
        # when
        admin_log_in(page, live_server.url, "boss")

        # then the admin is really in that scheme
        dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        assert dark is (scheme == "dark")
        # and every label of the charts, the tiles and the totals contrasts with what is behind it
        texts = page.locator("svg.chart text, .queue, .totals-card dt, .totals-card dd, .totals-card h2")
        measured = [texts.nth(i).evaluate(CONTRAST) for i in range(texts.count())]
        values = [m for m in measured if "¥" in m["text"] and "," in m["text"]]
        assert len(values) >= 2  # the bar chart's amounts, with thousands separators
        faint = [m for m in measured if m["ratio"] < 4.5]
        assert faint == []
        # and the console spans the window, not a column beside an empty sidebar
        width = page.locator("#console").bounding_box()["width"]
        assert width >= DESKTOP_VIEWPORT["width"] - 100
        save_screenshot(page, f"console-dashboard-{scheme}", full_page=True)
