"""Tests: fast hashers, an in-memory Celery broker (tasks run only where a test makes them eager)."""

from config.env import derived_key

from .base import *  # noqa: F403
from .base import REDIS_URL, VAR_DIR

DEBUG = False
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WECHAT_SANDBOX = True
IDENTITY_ENCRYPTION_KEYS = [derived_key(SECRET_KEY, "identity-encryption")]
IDENTITY_LOOKUP_KEY = derived_key(SECRET_KEY, "identity-lookup")
MEDIA_ROOT = VAR_DIR / "test-media"
# Room for the WeChat sandbox's state of a seeded scale demo (LocMem forgets past 300 entries by default).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    }
}
if not REDIS_URL:
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = False
# Limits no ordinary test reaches; the throttle tests set their own.
THROTTLE_RATES = {scope: "10000/min" for scope in THROTTLE_RATES}  # noqa: F405
# Django's test client logs in without a request, which django-axes refuses; the lockout test turns it on.
AXES_ENABLED = False
