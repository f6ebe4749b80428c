"""The sandbox's faults: WeChat's documented failures, played on demand or at random (seeded).

`POST /wechat-sandbox/faults {"api", "fault", "times"?: 1, "seconds"?}` queues a fault: the next
`times` calls of `api` fail that way, in order, whatever else happens (deterministic). `GET` lists
the queue and the chaos setting; `DELETE` clears both. `POST {"chaos": {"rate", "seed"}}` injects,
on each call with nothing queued, a fault of the kinds that call can suffer with probability
`rate`, drawn from a generator seeded with `seed` and the call's sequence number, so a long run
with the same seed and the same sequence of calls meets the same faults (`{"chaos": null}` stops).

What each fault does is decided by the view that takes it (sandbox/pay.py, transfers.py,
miniprogram.py); this module only holds the queue. The kinds follow WeChat's own failures:
HTTP 500 / SYSTEM_ERROR (nothing done, outcome unknown to the caller), a timeout (done, but the
answer never arrives), answers and notifications signed wrongly on purpose (WeChat's "probe"
signatures), notifications dropped, sent twice or late, refunds left PROCESSING, refused with
NOT_ENOUGH or ending ABNORMAL, 45011 / -1 / 40001 from the mini-program APIs, a transfer created
but answered with a 4xx, and a transfer left unconfirmed until it expires.

State lives in Django's cache, shared by the web process and the worker, like the rest of the
sandbox; `_state_lock` serialises read-modify-write within a process.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

_QUEUE = "wechat-sandbox:faults:queue"
_CHAOS = "wechat-sandbox:faults:chaos"
_SEQ = "wechat-sandbox:faults:seq"
_INJECTED = "wechat-sandbox:faults:injected"
TTL = 400 * 24 * 3600
_lock = threading.RLock()

FAULTS = frozenset(
    {
        "http_500",
        "timeout",
        "bad_signature",
        "drop",
        "duplicate",
        "delay",
        "processing",
        "not_enough",
        "abnormal",
        "system_error",
        "rate_limited",
        "busy",
        "token_expired",
        "ambiguous_4xx",
        "expire",
    }
)

_ANSWERED = ("http_500", "timeout", "bad_signature", "system_error", "rate_limited")
_NOTIFIED = ("bad_signature", "drop", "duplicate", "delay")
_MINIPROGRAM = ("http_500", "rate_limited", "busy", "token_expired")

# Which faults each API can suffer (a fault WeChat could not produce there is refused with 400).
APPLICABLE: dict[str, tuple[str, ...]] = {
    "jscode2session": ("http_500", "rate_limited", "busy"),
    "stable_token": ("http_500", "rate_limited", "busy"),
    "pay_jsapi": _ANSWERED,
    "pay_query": _ANSWERED,
    "pay_notify": _NOTIFIED,
    "refund": (*_ANSWERED, "processing", "not_enough", "abnormal"),
    "refund_query": _ANSWERED,
    "refund_notify": _NOTIFIED,
    "transfer": (*_ANSWERED, "ambiguous_4xx", "expire"),
    "transfer_query": _ANSWERED,
    "transfer_notify": _NOTIFIED,
    "transfer_cancel": _ANSWERED,
    "shipping": _MINIPROGRAM,
    "subscribe": _MINIPROGRAM,
}
APIS = frozenset(APPLICABLE)

# Chaos never picks these: each needs a counterpart a long run cannot supply by itself (a
# notification delayed past the run's end is the same as dropped, which chaos already plays).
_NOT_RANDOM = frozenset({"delay"})


@dataclass(frozen=True)
class Fault:
    api: str
    kind: str
    seconds: int = 0


def _queue() -> dict[str, list[dict[str, Any]]]:
    return cache.get(_QUEUE) or {}


def queue_fault(*, api: str, fault: str, times: int = 1, seconds: int = 0) -> None:
    with _lock:
        queue = _queue()
        queue.setdefault(api, []).extend({"fault": fault, "seconds": seconds} for _ in range(times))
        cache.set(_QUEUE, queue, TTL)


def set_chaos(*, rate: float, seed: int) -> None:
    cache.set(_CHAOS, {"rate": rate, "seed": seed}, TTL)
    cache.set(_SEQ, 0, TTL)


def clear() -> None:
    with _lock:
        cache.delete_many([_QUEUE, _CHAOS, _SEQ, _INJECTED])


def injected() -> dict[str, int]:
    """How many faults each api:kind took so far (queued or chaos): what a run can report."""
    return dict(cache.get(_INJECTED) or {})


def _count(fault: Fault) -> Fault:
    counts = cache.get(_INJECTED) or {}
    key = f"{fault.api}:{fault.kind}"
    counts[key] = counts.get(key, 0) + 1
    cache.set(_INJECTED, counts, TTL)
    return fault


def take(api: str) -> Fault | None:
    """The fault the next call of `api` suffers (queued first, then chaos), or None."""
    with _lock:
        queue = _queue()
        pending = queue.get(api) or []
        if pending:
            first = pending.pop(0)
            cache.set(_QUEUE, queue, TTL)
            return _count(Fault(api=api, kind=first["fault"], seconds=int(first.get("seconds") or 0)))
        chaos = cache.get(_CHAOS)
        if not chaos:
            return None
        seq = (cache.get(_SEQ) or 0) + 1
        cache.set(_SEQ, seq, TTL)
        draw = random.Random(f"{chaos['seed']}:{seq}")  # a rehearsal, not security
        if draw.random() >= chaos["rate"]:
            return None
        kinds = [k for k in APPLICABLE[api] if k not in _NOT_RANDOM]
        return _count(Fault(api=api, kind=draw.choice(kinds)))


# --- the view -----------------------------------------------------------------------------------


def _bad(message: str) -> JsonResponse:
    return JsonResponse({"errcode": 40003, "errmsg": message}, status=400)


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def faults(request: HttpRequest) -> JsonResponse:
    if request.method == "DELETE":
        clear()
        return JsonResponse({"queued": {}, "chaos": None})
    if request.method == "POST":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _bad("body must be JSON")
        if not isinstance(body, dict):
            return _bad("body must be an object")
        if "chaos" in body:
            chaos = body["chaos"]
            if chaos is None:
                cache.delete_many([_CHAOS, _SEQ])
            else:
                rate, seed = (chaos or {}).get("rate"), (chaos or {}).get("seed", 0)
                if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
                    return _bad("chaos.rate must be a number from 0 to 1")
                if not isinstance(seed, int) or isinstance(seed, bool):
                    return _bad("chaos.seed must be an integer")
                set_chaos(rate=float(rate), seed=seed)
        else:
            api, fault, times = body.get("api"), body.get("fault"), body.get("times", 1)
            seconds = body.get("seconds", 0)
            if api not in APIS:
                return _bad(f"api must be one of {', '.join(sorted(APIS))}")
            if fault not in APPLICABLE[api]:
                return _bad(f"{api} can suffer only {', '.join(APPLICABLE[api])}")
            if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= 1000:
                return _bad("times must be an integer from 1 to 1000")
            if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= 86400:
                return _bad("seconds must be an integer from 0 to 86400")
            if fault == "delay" and seconds < 1:
                return _bad("a delay needs seconds")
            queue_fault(api=api, fault=fault, times=times, seconds=seconds)
    return JsonResponse(
        {"queued": _queue(), "chaos": cache.get(_CHAOS), "injected": injected()},
        status=201 if request.method == "POST" else 200,
    )
