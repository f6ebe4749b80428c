"""The Content-Security-Policy holds on every HTML page, and the pages still render and work in
Chromium: the admin (login, console, a changelist and its filter), the landing page, the API docs.

A violation is caught two ways: the page's own `securitypolicyviolation` events, and Chromium's
console, which reports every blocked script, style or image."""

from __future__ import annotations

import pytest

from tests.accounts.factories import UserFactory
from tests.sharing.factories import make_koc_user, make_link, make_product

pytest_plugins = ["tests.browser_fixtures"]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def watched_page(browser_page):
    console: list[str] = []
    browser_page.on(
        "console",
        lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    browser_page.add_init_script(RECORD_VIOLATIONS)
    browser_page.set_default_timeout(20_000)
    browser_page.console_violations = console
    return browser_page


def _violations(page) -> list[str]:
    return page.evaluate("window.__csp") + page.console_violations


def _assert_csp(response) -> None:
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db(transaction=True)
def test_the_admin_the_landing_page_and_the_docs_work_under_the_csp(
    live_server, watched_page, wechat_sandbox, settings
):
    """One browser for the three kinds of page (each launch costs seconds of CI)."""
    UserFactory(username="csp-root", is_staff=True, is_superuser=True, openid=None)
    settings.PUBLIC_BASE_URL = live_server.url
    link = make_link(sharer=make_koc_user(nickname="小红"), product=make_product(title="龙井", picture=True))
    page = watched_page

    # the admin: log in, see the console, open a changelist and search it
    response = page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    _assert_csp(response)
    page.fill("#id_username", "csp-root")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    assert page.locator("#content").is_visible()
    page.goto(f"{live_server.url}/admin/accounts/user/")
    page.fill("#searchbar", "csp-root")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert _violations(page) == []

    # the landing page: the product and its picture
    response = page.goto(f"{live_server.url}/s/{link.code}")
    _assert_csp(response)
    assert page.locator("#product-title").inner_text() == "龙井"
    assert page.evaluate("document.querySelector('img.photo').naturalWidth") == 500
    assert _violations(page) == []

    # the API docs: Swagger UI starts (its settings now a script file) and opens an operation
    response = page.goto(f"{live_server.url}/api/v1/docs/")
    _assert_csp(response)
    page.locator("#swagger-ui .information-container h1.title").wait_for(state="visible")
    page.locator("#swagger-ui .opblock").first.click()
    page.locator("#swagger-ui .opblock.is-open").first.wait_for(state="visible")
    assert _violations(page) == []
