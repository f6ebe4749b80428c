"""Mounted at /wechat-sandbox/ only when WECHAT_SANDBOX is on (see config/urls.py)."""

from django.urls import path

from . import miniprogram

app_name = "wechat_sandbox"

urlpatterns = [
    path("cgi-bin/stable_token", miniprogram.stable_token, name="stable_token"),
    path("sns/jscode2session", miniprogram.jscode2session, name="jscode2session"),
    path("wxa/business/getuserphonenumber", miniprogram.getuserphonenumber, name="getuserphonenumber"),
    path("wxa/getwxacodeunlimit", miniprogram.getwxacodeunlimit, name="getwxacodeunlimit"),
    path("wxa/generate_urllink", miniprogram.generate_urllink, name="generate_urllink"),
]
