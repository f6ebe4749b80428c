"""Settings shared by every environment; each value that varies is read from the environment."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from celery.schedules import crontab

from config.env import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "apps.console.admin_config.ConsoleAdminConfig",  # django.contrib.admin, the console as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mptt",
    "apps.core",
    "apps.accounts",
    "apps.wechat",
    "apps.shop",
    "apps.kocs",
    "apps.sharing",
    "apps.groupbuys",
    "apps.commissions",
    "apps.reconciliation",
    "apps.console",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.EdgeMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as its documentation asks: it turns a locked-out admin login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def postgres_prepare_threshold() -> int | None:
    """psycopg prepares a statement after this many runs on a connection (`DB_PREPARE_THRESHOLD`,
    default 5; "none" never prepares, for a pooler in transaction mode). Only the hot statements of
    apps.core.rawsql bind on the server and so can be prepared; the ORM's bind on the client."""
    value = env("DB_PREPARE_THRESHOLD", default="5").strip().lower()
    return None if value in ("", "none", "off") else int(value)


DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server, the worker and beat share the file without
    # "database is locked" errors; IMMEDIATE makes write transactions take the lock up front.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = postgres_prepare_threshold()
# Django's own 400 (oversized body, bad host) and 403 (CSRF) under /api/ answer the error shape too.
CSRF_FAILURE_VIEW = "apps.core.views.csrf_failure"
# The largest request body read into memory (JSON): bigger ones answer 400 `request_too_large`.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A file cache is shared by the web server, the worker and beat (the WeChat access token must
    # be shared between processes), and needs no server.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # The WeChat sandbox keeps its payments and refunds here: Django's default of 300 entries
            # would cull a seeded demo's payments, and their refunds would find nothing to refund.
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Where the project can be reached from outside (WeChat Pay notify URLs, image URLs in API answers).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "apps.accounts.authentication.OperatorTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded JSON: depth, size and encoding errors answer 400 in the error shape, never a 500.
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.exception_handler",
    # The client's address for anything DRF keys on it: REMOTE_ADDR unless proxies are trusted.
    "NUM_PROXIES": env.int("TRUSTED_PROXIES", default=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=120)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=30)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    # A refresh token works once: each refresh answers a new one and blacklists the old, so a stolen
    # token dies at its owner's next refresh; auth/logout blacklists it outright.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

# --- Abuse limits --------------------------------------------------------------------------------
# How many reverse proxies in front of the app append to X-Forwarded-For (0: clients connect
# directly, and the header, which anyone can send, is ignored). The client's address is the entry
# the outermost trusted proxy added.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
# Fixed windows counted atomically in the shared cache (Redis in production). `<scope>` counts per
# user, `<scope>_address` per client address. Login, phone lookups and share links cost quota or
# money at WeChat; refunds and withdrawals move money.
THROTTLE_RATES = {
    "login_address": env("THROTTLE_LOGIN", default="30/min"),
    "phone": env("THROTTLE_PHONE", default="5/min"),
    "phone_address": env("THROTTLE_PHONE_ADDRESS", default="30/min"),
    "share_link": env("THROTTLE_SHARE_LINK", default="30/min"),
    "share_link_address": env("THROTTLE_SHARE_LINK_ADDRESS", default="120/min"),
    "refund": env("THROTTLE_REFUND", default="10/min"),
    "refund_address": env("THROTTLE_REFUND_ADDRESS", default="60/min"),
    "withdrawal": env("THROTTLE_WITHDRAWAL", default="20/min"),
    "withdrawal_address": env("THROTTLE_WITHDRAWAL_ADDRESS", default="60/min"),
}

# The admin login locks out after AXES_FAILURE_LIMIT failures from one address or for one username,
# for AXES_COOLOFF_MINUTES (`manage.py axes_reset` lifts it early).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.core.throttles.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password"]

# Content-Security-Policy on every HTML page (admin, landing page, API docs): only our own scripts,
# images from us, data: URIs (Swagger UI's icons) and any https origin (WeChat avatars come from
# qlogo.cn hosts, product pictures may sit on a CDN; an image cannot run code), never framed.
# Styles allow inline: the admin, the landing page and Swagger UI carry <style> blocks and style
# attributes; inline CSS cannot run code, while the script policy (no inline, no eval, no other
# origin) is what stops injected scripts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "KOC storefront mini-program API",
    "DESCRIPTION": "The API of the KOC storefront mini-program (docs/api.md): shoppers, KOCs and operators.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The order's status appears in the shopper's and the operators' order: one named enum for both.
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "apps.shop.models.Order.Status"},
    # Served from the drf-spectacular-sidecar package: the docs page needs no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -----------------------------------------------------------------------------------
# With REDIS_URL the broker is Redis. Without it, kombu's filesystem transport: a real broker that
# needs no server, so `manage.py run` has a real worker and beat on a fresh machine.
CELERY_BROKER_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
        # Each event hop (payment -> outbox -> group buys -> ...) waits for a poll: 1 s by default.
        "polling_interval": 0.2,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_BROKER_DIR / 'results'}"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves it queued; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Share-link visits are buffered in Redis and written in batches (apps/sharing/services/visits.py):
# how often, and how many per transaction. A first visit shows in the counts after the next flush.
SHARING_VISITS_FLUSH_SECONDS = env.int("SHARING_VISITS_FLUSH_SECONDS", default=10)
SHARING_VISITS_FLUSH_BATCH = env.int("SHARING_VISITS_FLUSH_BATCH", default=1000)
# Public answers (products, groups, share links) kept in the cache, invalidated by the writes that
# change them (apps/core/readcache.py); READ_CACHE_SECONDS bounds how long any one is kept.
READ_CACHE = env.bool("READ_CACHE", default=True)
READ_CACHE_SECONDS = env.int("READ_CACHE_SECONDS", default=600)
# The periodic commands of docs/api.md. Each task calls the same service as its management command and is
# safe to run twice; the intervals are the longest delay a missed per-object task can add.
CELERY_BEAT_SCHEDULE = {
    "redeliver-events": {"task": "core.redeliver_events", "schedule": 60.0},
    "cancel-unpaid-orders": {"task": "shop.cancel_unpaid_orders", "schedule": 60.0},
    "resubmit-stuck-refunds": {"task": "shop.resubmit_stuck_refunds", "schedule": 300.0},
    "auto-confirm-orders": {"task": "shop.auto_confirm_orders", "schedule": crontab(minute=10)},
    "expire-groups": {"task": "groupbuys.expire_groups", "schedule": 60.0},
    "send-pending-group-notifications": {"task": "groupbuys.send_pending_notifications", "schedule": 300.0},
    "poll-transfers": {"task": "commissions.poll_stale_withdrawals", "schedule": 300.0},
    "settle-commissions": {"task": "commissions.settle_commissions", "schedule": crontab(minute=20)},
    "evaluate-tiers": {"task": "kocs.evaluate_all_tiers", "schedule": crontab(hour=3, minute=30)},
    # The team tree's nested set, renumbered in batches (also sent after each write in a large tree).
    "refresh-team-trees": {"task": "kocs.refresh_team_trees", "schedule": 60.0},
    # WeChat makes a day's bills from about 9:00 the next morning.
    "reconcile-yesterday": {
        "task": "reconciliation.reconcile_yesterday",
        "schedule": crontab(hour=10, minute=0),
    },
    "flush-share-visits": {"task": "sharing.flush_visits", "schedule": float(SHARING_VISITS_FLUSH_SECONDS)},
    "upload-shipping-info": {"task": "shop.upload_pending_shipping_info", "schedule": 600.0},
}

# --- Business settings (docs/api.md) -----------------------------------------------------------------
# Team trees of at most this many nodes are renumbered by the writer itself (exact at commit);
# larger ones by the refresher task (README "The team tree").
KOCS_TREE_INLINE_NODES = env.int("KOCS_TREE_INLINE_NODES", default=500)
SHOP_PAYMENT_TIMEOUT_MINUTES = env.int("SHOP_PAYMENT_TIMEOUT_MINUTES", default=30)
SHOP_AUTO_CONFIRM_DAYS = env.int("SHOP_AUTO_CONFIRM_DAYS", default=10)
COMMISSION_FREEZE_DAYS = env.int("COMMISSION_FREEZE_DAYS", default=7)
COMMISSION_MAX_LEVELS = env.int("COMMISSION_MAX_LEVELS", default=2)
COMMISSION_CAP_PERCENT = Decimal(env.str("COMMISSION_CAP_PERCENT", default="30"))
# A periodic reward on a units target is at most this many fen per unit of the target (compliance).
COMMISSION_PERIODIC_MAX_FEN_PER_UNIT = env.int("COMMISSION_PERIODIC_MAX_FEN_PER_UNIT", default=500)

# Individual income tax withheld on payouts (apps/commissions/services/tax.py; README "Tax").
# What breaks "连续取得劳务报酬的月份" (公告2025年第16号): "restart" = a calendar month without a
# payout ends the run, and the next payout starts a new cumulative computation; "year" = every
# month of the year with a payout counts, gaps or not.
TAX_CONSECUTIVE_MONTHS = env.str("TAX_CONSECUTIVE_MONTHS", default="restart")
# 累计依法确定的其他扣除: deductions finance records per person and month (TaxDeduction), or none.
TAX_OTHER_DEDUCTIONS = env.bool("TAX_OTHER_DEDUCTIONS", default=True)

# Personal data at rest (apps/core/crypto.py): Fernet keys, the first encrypts, all decrypt.
IDENTITY_ENCRYPTION_KEYS = env.list("IDENTITY_ENCRYPTION_KEYS", default=[])
IDENTITY_LOOKUP_KEY = env.str("IDENTITY_LOOKUP_KEY", default="")

# --- WeChat ---------------------------------------------------------------------------------------
WECHAT_SANDBOX = env.bool("WECHAT_SANDBOX", default=DEBUG)
WECHAT_APPID = env("WECHAT_APPID", default="wx-sandbox-appid")
WECHAT_SECRET = env("WECHAT_SECRET", default="sandbox-secret")
WECHAT_MINIPROGRAM_STATE = env("WECHAT_MINIPROGRAM_STATE", default="developer")  # or trial, formal
WECHAT_API_BASE_URL = env("WECHAT_API_BASE_URL", default="https://api.weixin.qq.com")
WECHATPAY_API_BASE_URL = env("WECHATPAY_API_BASE_URL", default="https://api.mch.weixin.qq.com")
WECHATPAY_MCHID = env("WECHATPAY_MCHID", default="1900000001")
WECHATPAY_CERT_SERIAL_NO = env("WECHATPAY_CERT_SERIAL_NO", default="")
WECHATPAY_PRIVATE_KEY = env("WECHATPAY_PRIVATE_KEY", default="")
WECHATPAY_APIV3_KEY = env("WECHATPAY_APIV3_KEY", default="")
WECHATPAY_PUBLIC_KEY = env("WECHATPAY_PUBLIC_KEY", default="")
WECHATPAY_PUBLIC_KEY_ID = env("WECHATPAY_PUBLIC_KEY_ID", default="")
WECHATPAY_NOTIFY_MAX_AGE_SECONDS = 300
# Subscribe-message templates (chosen in the mini-program's admin, 订阅消息) and the group page;
# empty here means the sandbox's ids (apps/groupbuys/conf.py). Production requires them.
GROUPBUY_SUCCESS_TEMPLATE_ID = env("GROUPBUY_SUCCESS_TEMPLATE_ID", default="")
GROUPBUY_FAILURE_TEMPLATE_ID = env("GROUPBUY_FAILURE_TEMPLATE_ID", default="")
GROUPBUY_GROUP_PAGE = env("GROUPBUY_GROUP_PAGE", default="pages/group/index")
# Platform certificates (PEM, one or more) for a merchant migrating to the WeChat Pay public key:
# WeChat may sign with either, and Wechatpay-Serial says which (PUB_KEY_ID_... or a certificate's serial).
WECHATPAY_PLATFORM_CERTIFICATES = env("WECHATPAY_PLATFORM_CERTIFICATES", default="")
# Trade management (发货信息管理): upload every parcel to WeChat; the page WeChat's shipping and
# confirm-receipt messages open (set by `check_trade_management --apply`).
WECHAT_TRADE_MANAGEMENT = env.bool("WECHAT_TRADE_MANAGEMENT", default=True)
WECHAT_TRADE_MSG_JUMP_PATH = env("WECHAT_TRADE_MSG_JUMP_PATH", default="pages/order/detail")
# The mini-program's message push (消息推送), safe mode: the Token and the 43-character EncodingAESKey
# configured in the mini-program's console; the sandbox pushes to WECHAT_MESSAGE_PUSH_URL.
WECHAT_MESSAGE_TOKEN = env("WECHAT_MESSAGE_TOKEN", default="sandbox-message-token")
WECHAT_MESSAGE_AES_KEY = env("WECHAT_MESSAGE_AES_KEY", default="c2FuZGJveC1tZXNzYWdlLXB1c2gtYWVzLWtleS0wMDA")
WECHAT_MESSAGE_PUSH_URL = env("WECHAT_MESSAGE_PUSH_URL", default="")
WECHAT_MESSAGE_MAX_AGE_SECONDS = 300
# The sandbox's own behaviour: whether it says the mini-program is under trade management, its
# original id (ToUserName of pushes), and whether it signs WeChat Pay answers with its public key or
# with its platform certificate ("public_key" or "certificate").
WECHAT_SANDBOX_TRADE_MANAGED = env.bool("WECHAT_SANDBOX_TRADE_MANAGED", default=True)
WECHAT_SANDBOX_ORIGINAL_ID = "gh_sandbox00000"
WECHAT_SANDBOX_PAY_SIGNER = env("WECHAT_SANDBOX_PAY_SIGNER", default="public_key")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Phones and ID numbers are masked in every record before any handler writes it.
    "filters": {
        "mask_personal_data": {"()": "apps.core.masking.MaskPersonalData"},
        "redact_id_numbers": {"()": "apps.core.logging.RedactIdNumbers"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_personal_data", "redact_id_numbers"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

for _folder in (
    VAR_DIR,
    CELERY_BROKER_DIR / "queue",
    CELERY_BROKER_DIR / "processed",
    CELERY_BROKER_DIR / "results",
):
    _folder.mkdir(parents=True, exist_ok=True)
