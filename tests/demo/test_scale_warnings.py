"""The scale demo warns of a cache that would drop the sandbox's seeded payments, and only then."""

import io
import os

import pytest

from apps.demo.scale import _warn_about_wechat


def _warning(settings, cache: dict) -> str:
    settings.WECHAT_SANDBOX = True
    settings.CACHES = {"default": cache}
    out = io.StringIO()
    _warn_about_wechat(out, orders=1000)
    return out.getvalue()


def test_a_cache_that_culls_below_the_seeded_payments_is_named(settings):
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 300}}

    assert _warning(settings, locmem) == (
        "warning: the WeChat sandbox keeps its state in the cache, which keeps 300 entries: "
        "set REDIS_URL for seeded payments to stay refundable\n"
    )


def test_a_cache_large_enough_is_not(settings):
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 2000}}

    assert _warning(settings, locmem) == ""


@pytest.mark.redis
def test_redis_is_not_warned_of_whatever_its_max_entries_says(settings):
    # Django gives every backend MAX_ENTRIES 300 by default; Redis ignores it and keeps everything.
    redis = {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": os.environ.get("REDIS_URL", "")}

    assert _warning(settings, redis) == ""
