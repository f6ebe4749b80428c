"""Browser fixtures: Playwright driving Debian's Chromium, to look at pages as a phone user does.

Loaded by tests/conftest.py with `pytest_plugins = ["tests.browser_fixtures"]`.

- `browser_page`: a fresh Playwright page in a phone-sized context (390×844 CSS px at 2×, zh-CN),
  launched from /usr/bin/chromium. Skips, with the reason, when Chromium or Playwright is absent;
  `manage.py test` installs Chromium with apt first, so on CI these tests run.
- `screenshot`: `screenshot("name")` saves the phone's screen to test-artifacts/name.png (the whole
  page with `full_page=True`) and returns the path.
  A failing browser test also leaves test-artifacts/<test name>-failure.png behind.

We never let Playwright download a browser (`playwright install`): CI reaches Debian's and PyPI's
mirrors only, so the browser is Debian's package, launched with `executable_path`.

Chinese text: a bare Debian has no CJK font, and Chromium would draw boxes. The browser is launched
with FONTCONFIG_FILE pointing at a fonts.conf that includes the system's and adds the folder of the
CJK font the posters use (the pip-installed Noto Sans CJK, see apps/sharing/fonts.py), so pages
render Chinese with no system package and no download.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root in a container, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
PHONE_SCALE = 2
DESKTOP_VIEWPORT = {"width": 1280, "height": 900}


FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <dir>{font_dir}</dir>
  <cachedir>{cache_dir}</cachedir>
  <alias><family>sans-serif</family><prefer><family>Noto Sans CJK SC</family></prefer></alias>
</fontconfig>
"""


def cjk_fontconfig(folder: Path) -> Path:
    """Write a fonts.conf into `folder` that adds the posters' CJK font to the system's fonts."""
    from apps.sharing.fonts import font_source

    cache = folder / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    conf = folder / "fonts.conf"
    conf.write_text(FONTS_CONF.format(font_dir=font_source().path.parent, cache_dir=cache), encoding="utf-8")
    return conf


@pytest.fixture(scope="session")
def _browser_fontconfig(tmp_path_factory) -> Path | None:
    from apps.sharing.fonts import CJKFontNotFound

    try:
        return cjk_fontconfig(tmp_path_factory.mktemp("fontconfig"))
    except CJKFontNotFound:  # the font tests say so loudly; pages then show whatever the system has
        return None


def artifacts_dir() -> Path:
    folder = Path(settings.BASE_DIR) / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


def save_screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot of `page` (the phone's screen, or the whole page) to test-artifacts/<name>.png."""
    safe = re.sub(r"[^\w.-]+", "-", name).strip("-") or "screenshot"
    path = artifacts_dir() / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_browser_report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(request, monkeypatch, _browser_fontconfig) -> Iterator:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"browser test: no Chromium at {CHROMIUM}; `apt-get install chromium` "
            "(manage.py test does it itself when run as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test: the playwright package is missing; pip install -e '.[dev]'")

    # Playwright's sync API keeps an asyncio loop marked as running in this thread while it is
    # open, and Django then refuses every ORM call made here (SynchronousOnlyOperation), including
    # the test's own setup and pytest-django's flush. The calls are still synchronous and
    # single-threaded, so the check is a false alarm; it is lifted only while a browser is open,
    # and Playwright is opened per test so that the other tests keep the check.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            env={
                **os.environ,
                **({"FONTCONFIG_FILE": str(_browser_fontconfig)} if _browser_fontconfig else {}),
            },
        )
        context = browser.new_context(
            viewport=PHONE_VIEWPORT, device_scale_factor=PHONE_SCALE, locale="zh-CN", is_mobile=True
        )
        page = context.new_page()
        try:
            yield page
        finally:
            report = getattr(request.node, "_browser_report_call", None)
            if report is not None and report.failed:
                save_screenshot(page, f"{request.node.name}-failure", full_page=True)
            context.close()
            browser.close()


@pytest.fixture
def screenshot(browser_page) -> Callable[..., Path]:
    return lambda name, *, full_page=False: save_screenshot(browser_page, name, full_page=full_page)


@contextmanager
def desktop_context(browser_page, locale: str = "zh-CN", **options) -> Iterator:
    """A desktop-sized page in the browser of `browser_page` (its skip rules and fonts), closed after;
    `options` go to Playwright's new_context (e.g. color_scheme)."""
    context = browser_page.context.browser.new_context(viewport=DESKTOP_VIEWPORT, locale=locale, **options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def desktop_page(browser_page) -> Iterator:
    with desktop_context(browser_page) as page:
        yield page


def admin_log_in(page, base: str, username: str) -> None:
    """Log in to the admin as `username` (the user factory's password, "pw") and wait for it."""
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
