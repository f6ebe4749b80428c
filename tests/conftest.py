"""Fixtures every test module can use.

- `api_client`, `shopper`, `shopper_client`, `ops_user`, `ops_client`: users and authenticated clients.
- `wechat_sandbox`: routes the project's real WeChat and WeChat Pay HTTP calls (wechatpy,
  wechatpayv3, the sandbox's own notifications) into the Django app in-process with `responses`,
  so the real clients, signatures and sandbox views all run without a live server. Any other
  outbound URL fails loudly.
- `celery_eager`: makes Celery run tasks inline for the tests that choose it.
- `requires_postgres` / `requires_redis` markers skip with a reason when the service is absent.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.wechat.sandbox import inprocess
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client, token_client

SANDBOX_ORIGIN = inprocess.ORIGIN

pytest_plugins = ["tests.browser_fixtures"]


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    has_redis = bool(os.environ.get("REDIS_URL"))
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI's second pass does)"
    )
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://... (CI's second pass does)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not has_redis:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _isolated_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def shopper(db):
    return UserFactory()


@pytest.fixture
def shopper_client(shopper) -> APIClient:
    return bearer_client(shopper)


@pytest.fixture
def ops_user(db):
    """A platform admin (平台管理员): the ops API asks a role's permissions, as the admin does."""
    from django.contrib.auth.models import Group

    from apps.console.roles import PLATFORM_ADMIN, ensure_role_groups

    ensure_role_groups()
    user = UserFactory(is_staff=True, username="ops", openid=None)
    user.groups.add(Group.objects.get(name=PLATFORM_ADMIN))
    return user


@pytest.fixture
def ops_client(ops_user) -> APIClient:
    return token_client(ops_user)


@pytest.fixture
def celery_eager():
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager = False


@pytest.fixture
def wechat_sandbox(settings):
    settings.PUBLIC_BASE_URL = SANDBOX_ORIGIN
    settings.WECHAT_SANDBOX_BASE_URL = f"{SANDBOX_ORIGIN}/wechat-sandbox"
    with inprocess.routed() as mock:
        yield mock


def pytest_configure(config):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    # A direct `pytest` run (not `manage.py test`) also sees the current translations.
    from pathlib import Path

    from apps.core.locales import compile_all

    if compile_all(Path(__file__).resolve().parent.parent):
        # Django may have read the catalogues during setup, before these .mo files existed.
        import gettext as gettext_module

        from asgiref.local import Local
        from django.utils.translation import trans_real

        gettext_module._translations.clear()  # Python's own cache of .mo files by path
        trans_real._translations = {}
        trans_real._default = None
        trans_real._active = Local()


@pytest.fixture
def is_postgres(db) -> bool:
    return connection.vendor == "postgresql"
