"""Development: `manage.py run` on a laptop or a fresh machine, with the WeChat sandbox on."""

from config.env import env

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-secret-key-not-for-production-use-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
WECHAT_SANDBOX = env.bool("WECHAT_SANDBOX", default=DEBUG)
