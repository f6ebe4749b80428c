from django.core.cache import cache
from wechatpy.session import SessionStorage


class DjangoCacheStorage(SessionStorage):
    """wechatpy's token storage on Django's cache, so every web and worker process shares one token."""

    prefix = "wechatpy:"

    def get(self, key, default=None):
        return cache.get(self.prefix + key, default)

    def set(self, key, value, ttl=None):
        # Expire our copy five minutes before WeChat does, so a request never carries a dying token.
        timeout = max(int(ttl) - 300, 60) if ttl else None
        cache.set(self.prefix + key, value, timeout)

    def delete(self, key):
        cache.delete(self.prefix + key)
