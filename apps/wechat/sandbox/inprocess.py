"""Reach the sandbox without a web server: the project's real WeChat clients, in-process.

`routed()` patches outgoing HTTP (requests, which wechatpy and wechatpayv3 use) so that every call
to the sandbox origin is served by Django's test client from this process, real signatures and
all; any other host fails loudly. A marked 504 (the sandbox's `timeout` fault) becomes requests'
ReadTimeout, as a timeout looks to a client. The tests and `manage.py simulate` use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
from django.utils import translation

from .pay import TIMEOUT_HEADER

ORIGIN = "http://testserver"


def forward(django_client):
    def callback(request):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"content-length", "host"}}
        content_type = headers.pop("Content-Type", headers.pop("content-type", "application/octet-stream"))
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        # A server elsewhere would not touch the caller's active language; the in-process request's
        # LocaleMiddleware would (it activates the sandbox request's language), so it is restored.
        with translation.override(translation.get_language()):
            response = django_client.generic(
                request.method, path, data=body, content_type=content_type, headers=headers
            )
        if response.get(TIMEOUT_HEADER) == "timeout":
            raise requests.exceptions.ReadTimeout(f"sandbox fault: timeout on {path}")
        return response.status_code, dict(response.items()), response.content

    return callback


@contextmanager
def routed() -> Iterator:
    """Route ORIGIN to this process (responses' RequestsMock; a dev dependency)."""
    import responses
    from django.test import Client

    django_client = Client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(method, re.compile(rf"{re.escape(ORIGIN)}/.*"), callback=forward(django_client))
        yield mock
