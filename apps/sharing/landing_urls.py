"""The share landing page /s/{code}, outside /api/v1 (opened from links outside WeChat)."""

from django.urls import path

from . import landing

urlpatterns = [
    path("<str:code>", landing.landing_page, name="share-landing"),
]
