"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered from apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("koc_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
