"""The Redis cache backend of production (apps.core.cache): Django's, with one client per pool."""

import pytest
from django.core.cache import cache


@pytest.fixture
def redis_cache(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL=redis://... (CI's second pass does)")
    settings.CACHES = {"default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": settings.REDIS_URL}}
    cache.clear()
    yield
    cache.clear()


def test_one_client_is_reused_and_the_cache_works_as_djangos(redis_cache):
    from django.core.cache.backends.redis import RedisCache

    backend = cache._cache
    assert backend.get_client() is backend.get_client(write=True)
    assert cache.add("a", {"x": 1}) is True
    assert cache.add("a", 2) is False
    cache.set_many({"b": b"bytes", "n": 5})
    assert cache.get_many(["a", "b", "n", "missing"]) == {"a": {"x": 1}, "b": b"bytes", "n": 5}
    assert cache.incr("n") == 6
    cache.delete("a")
    assert cache.get("a") is None
    from django.core.cache import caches

    assert isinstance(caches["default"], RedisCache)
