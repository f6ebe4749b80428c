"""Production settings: secure with the required variables set, refuse to start otherwise."""

import os
import subprocess
import sys

import pytest
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
    "IDENTITY_ENCRYPTION_KEYS": "Z2V0LWEtcmVhbC1rZXktZnJvbS1GZXJuZXQtZ2VuZXI=",
    "IDENTITY_LOOKUP_KEY": "a-long-random-lookup-key",
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


# --- Fail closed (issue 15) -----------------------------------------------------------------------

REQUIRED = [k for k in PRODUCTION_ENV if k != "DJANGO_SETTINGS_MODULE"]


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `code` with none of the production variables and no DJANGO_SETTINGS_MODULE, plus `env`."""
    unset = {"DJANGO_SETTINGS_MODULE", "DEBUG", "WECHAT_SANDBOX", *PRODUCTION_ENV}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**clean, "KOC_NO_BOOTSTRAP": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


SETTINGS_OF = {
    "wsgi": "import config.wsgi; from django.conf import settings; print(settings.SETTINGS_MODULE)",
    "asgi": "import config.asgi; from django.conf import settings; print(settings.SETTINGS_MODULE)",
    "celery": (
        "from config.celery import app; app.loader.import_default_modules();"
        "from django.conf import settings; print(settings.SETTINGS_MODULE)"
    ),
    "manage.py": (
        "import sys, manage; sys.argv = ['manage.py', 'shell', '-c', "
        "'from django.conf import settings; print(settings.SETTINGS_MODULE)']; manage.main()"
    ),
}


@pytest.mark.parametrize("entry_point", list(SETTINGS_OF))
def test_every_entry_point_defaults_to_the_production_settings(entry_point):
    # when: the deploy sets every production variable but forgets DJANGO_SETTINGS_MODULE
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = _python(SETTINGS_OF[entry_point], env)

    # then: production, not the local settings with DEBUG, the sandbox and a public SECRET_KEY
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "config.settings.production"


@pytest.mark.parametrize("entry_point", ["wsgi", "celery"])
def test_an_entry_point_with_nothing_set_refuses_to_start(entry_point):
    result = _python(SETTINGS_OF[entry_point], {})

    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_the_readme_commands_pick_their_own_settings():
    import manage

    assert manage.default_settings(["manage.py", "run"]) == "config.settings.local"
    assert manage.default_settings(["manage.py", "test", "--", "-x"]) == "config.settings.test"
    assert manage.default_settings(["manage.py", "migrate"]) == "config.settings.production"
    assert manage.default_settings(["manage.py"]) == "config.settings.production"


# One interpreter loads the production settings module once per case (each a fresh module object
# reading os.environ), so the twenty cases cost one start-up instead of twenty.
_EACH_CASE = """
import json, os, runpy, sys
from django.core.exceptions import ImproperlyConfigured
cases, base = json.loads(sys.argv[1]), dict(os.environ)
out = {}
for name, env in cases.items():
    os.environ.clear(); os.environ.update({**base, **env})
    try:
        runpy.run_module("config.settings.production", run_name="production_case")
        out[name] = "started"
    except ImproperlyConfigured as exc:
        out[name] = str(exc)
print(json.dumps(out))
"""


def _production_cases(cases: dict[str, dict[str, str]]) -> dict[str, str]:
    import json

    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    clean = {k: v for k, v in clean.items() if k not in PRODUCTION_ENV and k != "WECHAT_SANDBOX"}
    result = subprocess.run(
        [sys.executable, "-c", _EACH_CASE, json.dumps(cases)],
        cwd=settings.BASE_DIR,
        env={**clean, "KOC_NO_BOOTSTRAP": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_refuses_to_start_without_each_required_variable():
    cases = {var: {k: v for k, v in PRODUCTION_ENV.items() if k != var} for var in REQUIRED}
    cases["all set"] = PRODUCTION_ENV

    answers = _production_cases(cases)

    assert answers == {
        **{var: f"Set the {var} environment variable" for var in REQUIRED},
        "all set": "started",
    }


def test_production_refuses_unsafe_settings_with_a_clear_message():
    cases = {
        "debug": {"DEBUG": "1"},
        "sandbox": {"WECHAT_SANDBOX": "true"},
        "sqlite": {"DATABASE_URL": "sqlite:////tmp/prod.sqlite3"},
        "dev key": {"SECRET_KEY": "dev-only-secret-key-not-for-production-use-0123456789"},
        "short key": {"SECRET_KEY": "short"},
    }

    answers = _production_cases({name: {**PRODUCTION_ENV, **env} for name, env in cases.items()})

    assert answers["debug"].startswith("DEBUG must be off in production")
    assert answers["sandbox"].startswith("WECHAT_SANDBOX must be off in production")
    assert answers["sqlite"].startswith("DATABASE_URL points at SQLite: production needs PostgreSQL")
    assert answers["dev key"].startswith("SECRET_KEY is too weak for production")
    assert answers["short key"].startswith("SECRET_KEY is too weak for production")


@pytest.mark.parametrize(
    ("value", "threshold"), [(None, "5"), ("0", "0"), ("20", "20"), ("none", "None"), ("off", "None")]
)
def test_postgresql_prepares_the_hot_statements_unless_told_not_to(value, threshold):
    # DB_PREPARE_THRESHOLD=none for a pooler in transaction mode (PgBouncer before 1.21)
    env = {**PRODUCTION_ENV} if value is None else {**PRODUCTION_ENV, "DB_PREPARE_THRESHOLD": value}
    code = (
        "from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    )

    result = _manage("shell", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == threshold  # after the shell's own banner
