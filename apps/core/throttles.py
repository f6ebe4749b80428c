"""Abuse limits that hold under concurrency: fixed windows counted atomically in the shared cache.

DRF's SimpleRateThrottle reads a list of timestamps from the cache, then writes it back: under
concurrency every request reads the same list, so a burst of 100 passed 51 of a limit of 30. Here each
request does one atomic `add` (create the window's counter if absent) and one atomic `incr` (Redis
INCR in production), and is admitted only if its own number is within the limit: exactly `limit`
requests pass per window, however many arrive together.

Each scope counts per user (`<scope>`) and per client address (`<scope>_address`), with the rates of
settings.THROTTLE_RATES read at request time. The address comes from `client_ip`: REMOTE_ADDR, or the
entry the outermost of TRUSTED_PROXIES proxies added to X-Forwarded-For, never what a client claims.
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_PERIODS |= {"d": 86400, "day": 86400}


def now() -> float:
    """The clock the windows are cut from (tests hold it still, so no window ends mid-test)."""
    return time.time()


def parse_rate(rate: str) -> tuple[int, int]:
    """'30/min' -> (30, 60); '5/10s'-style multipliers are not needed, so not accepted."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


def client_ip(request) -> str:
    """The client's address: trusted proxies are counted from the right of X-Forwarded-For.

    Each trusted proxy appends the address it received the connection from, so with N proxies the
    N-th entry from the right was written by the outermost one; everything left of it is whatever
    the client sent. With no trusted proxy (the default) the header is ignored.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = getattr(settings, "TRUSTED_PROXIES", 0)
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote  # the request did not come through every proxy: only the socket is known
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class ScopedThrottle(BaseThrottle):
    """Per user and per address limits for one scope, on the methods that cost something."""

    scope = ""
    methods = frozenset({"POST"})

    def __init__(self) -> None:
        self._wait: float | None = None

    def _counters(self, request) -> list[tuple[str, str]]:
        counters = [(f"{self.scope}_address", f"a:{client_ip(request)}")]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            counters.insert(0, (self.scope, f"u:{user.pk}"))
        return counters

    def allow_request(self, request, view) -> bool:
        if request.method not in self.methods:
            return True
        rates = settings.THROTTLE_RATES
        moment = now()
        for rate_name, ident in self._counters(request):
            rate = rates.get(rate_name)
            if not rate:
                continue
            limit, period = parse_rate(rate)
            window = int(moment // period)
            key = f"throttle:{self.scope}:{ident}:{period}:{window}"
            cache.add(key, 0, timeout=period + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # the window's key expired between add and incr: a fresh window
                cache.add(key, 0, timeout=period + 1)
                count = cache.incr(key)
            if count > limit:
                self._wait = (window + 1) * period - moment
                return False
        return True

    def wait(self) -> float | None:
        return self._wait


class LoginThrottle(ScopedThrottle):
    scope = "login"


class PhoneThrottle(ScopedThrottle):
    scope = "phone"


class ShareLinkThrottle(ScopedThrottle):
    scope = "share_link"


class RefundThrottle(ScopedThrottle):
    scope = "refund"


class WithdrawalThrottle(ScopedThrottle):
    scope = "withdrawal"
