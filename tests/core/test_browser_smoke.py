"""The browser fixtures work end to end: Debian's Chromium opens a page the live server serves."""

import pytest
from django.contrib.auth import get_user_model

# tests/conftest.py loads these fixtures for every test; naming the plugin here too keeps this module
# runnable on its own (pytest registers a plugin once).
pytest_plugins = ["tests.browser_fixtures"]


@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_in_a_phone_browser(live_server, browser_page, screenshot):
    # when
    response = browser_page.goto(f"{live_server.url}/api/v1/docs/")

    # then: Swagger UI (from the sidecar package, no CDN) started and rendered our schema
    assert response is not None and response.status == 200
    heading = browser_page.locator("#swagger-ui .information-container h1.title")
    heading.wait_for(state="visible", timeout=20_000)
    assert heading.inner_text().startswith("KOC storefront mini-program API")
    assert browser_page.title() == "KOC storefront mini-program API"
    assert browser_page.locator("#swagger-ui .opblock").count() > 0
    path = screenshot("api-docs")
    assert path.stat().st_size > 10_000
    # The test's own ORM calls still work while the browser is open (see DJANGO_ALLOW_ASYNC_UNSAFE).
    assert get_user_model().objects.count() == 0
