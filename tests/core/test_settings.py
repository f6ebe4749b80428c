"""Production settings: secure with the required variables set, refuse to start otherwise."""

import os
import subprocess
import sys

from django.conf import settings

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://app@db.example.com:5432/shop",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "WECHAT_APPID": "wx1234567890",
    "WECHAT_SECRET": "s",
    "WECHATPAY_MCHID": "1900000109",
    "WECHATPAY_CERT_SERIAL_NO": "ABC",
    "WECHATPAY_PRIVATE_KEY": "k",
    "WECHATPAY_APIV3_KEY": "0" * 32,
    "WECHATPAY_PUBLIC_KEY": "p",
    "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0001",
    "WECHAT_MESSAGE_TOKEN": "t",
    "WECHAT_MESSAGE_AES_KEY": "a" * 43,
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "GROUPBUY_SUCCESS_TEMPLATE_ID": "tmpl-success-0001",
    "GROUPBUY_FAILURE_TEMPLATE_ID": "tmpl-failure-0001",
    "GROUPBUY_GROUP_PAGE": "pages/group/index",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "WECHAT_SANDBOX"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, "KOC_NO_BOOTSTRAP": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_on_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_with_the_sandbox_on():
    result = _manage("check", env={**PRODUCTION_ENV, "WECHAT_SANDBOX": "1"})

    assert result.returncode != 0
    assert "WECHAT_SANDBOX must be off in production" in result.stderr


def test_production_has_no_default_for_a_secret():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "WECHATPAY_APIV3_KEY"}

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "WECHATPAY_APIV3_KEY" in result.stderr


def test_production_requires_the_subscribe_template_ids():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "GROUPBUY_SUCCESS_TEMPLATE_ID"}

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "GROUPBUY_SUCCESS_TEMPLATE_ID" in result.stderr


def test_template_ids_are_read_from_the_environment():
    code = (
        "import django; django.setup();"
        "from apps.groupbuys import conf; print(conf.templates()['group_failed'], conf.group_page())"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "GROUPBUY_FAILURE_TEMPLATE_ID": "tmpl-from-env",
            "GROUPBUY_GROUP_PAGE": "pages/pintuan/detail",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "tmpl-from-env pages/pintuan/detail", result.stderr


def test_the_sandbox_is_not_mounted_when_off():
    code = (
        "import django; django.setup();"
        "from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/wechat-sandbox/sns/jscode2session'); print('MOUNTED')\n"
        "except Resolver404:\n    print('ABSENT')"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.local", "WECHAT_SANDBOX": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "ABSENT", result.stderr
