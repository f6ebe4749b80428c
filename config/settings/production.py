"""Production: every secret comes from the environment, with no default; unsafe setups refuse to start.

This is what every entry point (wsgi, asgi, celery, manage.py) loads when DJANGO_SETTINGS_MODULE is not
set, so each check below raises ImproperlyConfigured with a message that names what to fix.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import env

from .base import *  # noqa: F403

if env.bool("DEBUG", default=False):
    raise ImproperlyConfigured(
        "DEBUG must be off in production: it shows settings and stack traces to anyone. Unset DEBUG."
    )
DEBUG = False
SECRET_KEY = env("SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith(("dev-only", "django-insecure")):
    # It signs the JWTs: a guessable key lets anyone forge a token for any user.
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: use at least 50 random characters "
        '(python3 -c "import secrets; print(secrets.token_urlsafe(64))").'
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
DATABASES = {"default": env.db("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured(
        "DATABASE_URL points at SQLite: production needs PostgreSQL (row locks, conditional updates and "
        "concurrent writers are what keep stock, seats and money right). Set DATABASE_URL=postgres://..."
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = postgres_prepare_threshold()  # noqa: F405
REDIS_URL = env("REDIS_URL")
CACHES = {"default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

WECHAT_SANDBOX = env.bool("WECHAT_SANDBOX", default=False)
if WECHAT_SANDBOX:
    raise ImproperlyConfigured(
        "WECHAT_SANDBOX must be off in production: it would fake WeChat and WeChat Pay "
        '(its open "I paid" endpoint would mark any order paid). Unset WECHAT_SANDBOX.'
    )
WECHAT_APPID = env("WECHAT_APPID")
WECHAT_SECRET = env("WECHAT_SECRET")
WECHAT_MINIPROGRAM_STATE = env("WECHAT_MINIPROGRAM_STATE", default="formal")
WECHATPAY_MCHID = env("WECHATPAY_MCHID")
WECHATPAY_CERT_SERIAL_NO = env("WECHATPAY_CERT_SERIAL_NO")
WECHATPAY_PRIVATE_KEY = env("WECHATPAY_PRIVATE_KEY")
WECHATPAY_APIV3_KEY = env("WECHATPAY_APIV3_KEY")
WECHATPAY_PUBLIC_KEY = env("WECHATPAY_PUBLIC_KEY")
WECHATPAY_PUBLIC_KEY_ID = env("WECHATPAY_PUBLIC_KEY_ID")
# No defaults: the message push must be verified with the mini-program's own Token and AES key.
WECHAT_MESSAGE_TOKEN = env("WECHAT_MESSAGE_TOKEN")
WECHAT_MESSAGE_AES_KEY = env("WECHAT_MESSAGE_AES_KEY")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL").rstrip("/")
# Without these production would send the sandbox's template ids, which WeChat refuses.
GROUPBUY_SUCCESS_TEMPLATE_ID = env("GROUPBUY_SUCCESS_TEMPLATE_ID")
GROUPBUY_FAILURE_TEMPLATE_ID = env("GROUPBUY_FAILURE_TEMPLATE_ID")
GROUPBUY_GROUP_PAGE = env("GROUPBUY_GROUP_PAGE")
IDENTITY_ENCRYPTION_KEYS = env.list("IDENTITY_ENCRYPTION_KEYS")
IDENTITY_LOOKUP_KEY = env.str("IDENTITY_LOOKUP_KEY")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
