"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered from apps."""

import os

from celery import Celery

# Fail closed: a deploy that sets nothing gets the production settings, which refuse to start
# without their secrets (never the local ones, with DEBUG, the sandbox and a public SECRET_KEY).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("koc_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
