"""Development: `manage.py run` on a laptop or a fresh machine, with the WeChat sandbox on."""

from config.env import derived_key, env

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-secret-key-not-for-production-use-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
WECHAT_SANDBOX = env.bool("WECHAT_SANDBOX", default=DEBUG)
# Development keys derived from the secret key; production sets its own (no default there).
IDENTITY_ENCRYPTION_KEYS = env.list(
    "IDENTITY_ENCRYPTION_KEYS", default=[derived_key(SECRET_KEY, "identity-encryption")]
)
IDENTITY_LOOKUP_KEY = env.str("IDENTITY_LOOKUP_KEY", default=derived_key(SECRET_KEY, "identity-lookup"))
