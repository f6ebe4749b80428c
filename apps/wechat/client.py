"""The mini-program's WeChat client: wechatpy, with stable_token, a shared token cache and the sandbox.

Everything the project asks of api.weixin.qq.com goes through `miniprogram_client()`. WeChat errors
come out as `WeChatError` subclasses the API layer can render (see `errors.py`); nothing from
WeChat becomes a 500.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException

from . import conf
from .errors import translate
from .storage import DjangoCacheStorage

logger = logging.getLogger(__name__)

BUSY_RETRIES = 2
FORCE_REFRESH_LOCK = "wechat:stable_token:forced"
FORCE_REFRESH_INTERVAL = 30  # seconds: WeChat's minimum between two forced refreshes


class MiniProgramClient(WeChatClient):
    """wechatpy's client, pointed at `api_base` and fetching its token with `cgi-bin/stable_token`."""

    def __init__(self, *args: Any, api_base: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.api_base = api_base.rstrip("/")

    def _rewrite(self, url: str) -> str:
        if url.startswith(conf.WECHAT_HOST):
            return self.api_base + url[len(conf.WECHAT_HOST) :]
        return url

    def _request(self, method, url_or_endpoint, **kwargs):
        if not url_or_endpoint.startswith(("http://", "https://")):
            base = kwargs.pop("api_base_url", self.API_BASE_URL)
            url_or_endpoint = f"{base}{url_or_endpoint}"
        return super()._request(method, self._rewrite(url_or_endpoint), **kwargs)

    def _handle_result(self, res, method=None, url=None, result_processor=None, **kwargs):
        # wechatpy answers 40001/40014/42001 by fetching a token and retrying once; remember which
        # token WeChat rejected, so the fetch can tell "mine is stale" from "the current one is bad".
        params = kwargs.get("params") if isinstance(kwargs.get("params"), dict) else {}
        self._rejected_token = params.get("access_token")
        return super()._handle_result(res, method, url, result_processor, **kwargs)

    def fetch_access_token(self):
        """Fetch the token in stable mode; force a refresh only when the rejected token is still the
        cached one and WeChat's normal mode answers it again, at most once per 30 s across processes.

        A forced refresh invalidates the token every other process holds (and WeChat allows 20 a
        day, 30 seconds apart), so it is the last resort. A request that failed on a token another
        process has since replaced just takes the replacement from the shared cache.
        """
        rejected = getattr(self, "_rejected_token", None)
        self._rejected_token = None
        cached = self.session.get(self.access_token_key)
        if rejected and cached and cached != rejected:
            return {"access_token": cached}
        result = self._stable_token(force_refresh=False)
        if rejected and result["access_token"] == rejected:
            if cache.add(FORCE_REFRESH_LOCK, 1, FORCE_REFRESH_INTERVAL):
                result = self._stable_token(force_refresh=True)
            else:
                logger.warning("access token rejected, but a forced refresh ran < 30 s ago: not forcing")
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result

    def _stable_token(self, *, force_refresh: bool) -> dict:
        res = self._http.post(
            self._rewrite(f"{conf.WECHAT_HOST}/cgi-bin/stable_token"),
            json={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": force_refresh,
            },
            timeout=self.timeout,
        )
        try:
            res.raise_for_status()
            result = res.json()
        except (requests.RequestException, ValueError) as exc:
            raise WeChatClientException(
                None, f"stable_token failed: {exc}", client=self, response=res
            ) from exc
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self, response=res)
        return result


def miniprogram_client() -> MiniProgramClient:
    return MiniProgramClient(
        settings.WECHAT_APPID,
        settings.WECHAT_SECRET,
        session=DjangoCacheStorage(),
        timeout=10,
        api_base=conf.wechat_api_base(),
    )


def call(fn, *args: Any, **kwargs: Any):
    """Run one WeChat call, retrying WeChat's "system busy" (-1) briefly; errors become WeChatError."""
    for attempt in range(BUSY_RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode == -1 and attempt < BUSY_RETRIES:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise translate(exc) from exc
        except requests.RequestException as exc:
            if attempt < BUSY_RETRIES:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise translate(WeChatClientException(None, str(exc))) from exc
    raise AssertionError("unreachable")


def code_to_session(code: str) -> dict:
    """`jscode2session`: {openid, session_key, unionid?} for a wx.login() code."""
    client = miniprogram_client()
    return call(client.wxa.code_to_session, code)


def get_phone_number(code: str) -> dict:
    """`wxa/business/getuserphonenumber` (absent from wechatpy 1.8.18): the phone_info of a code."""
    client = miniprogram_client()
    result = call(client.post, f"{conf.WECHAT_HOST}/wxa/business/getuserphonenumber", data={"code": code})
    return result["phone_info"]


def get_wxa_code_unlimited(*, scene: str, page: str, width: int = 430) -> bytes:
    """`wxa/getwxacodeunlimit` with env_version and check_path, which wechatpy 1.8.18 lacks: PNG bytes."""
    client = miniprogram_client()
    data = {
        "scene": scene,
        "page": page,
        "width": width,
        "check_path": settings.WECHAT_MINIPROGRAM_STATE == "formal",
        "env_version": {"formal": "release", "trial": "trial"}.get(
            settings.WECHAT_MINIPROGRAM_STATE, "develop"
        ),
    }
    result = call(client.post, f"{conf.WECHAT_HOST}/wxa/getwxacodeunlimit", data=data)
    if isinstance(result, dict):  # WeChat answers JSON only for errors, which `call` already raised
        raise translate(WeChatClientException(result.get("errcode"), result.get("errmsg")))
    return result.content
