"""Public answers kept in the shared cache (Redis in production), invalidated by generations.

An answer (the exact bytes the API sends) is stored under its own key together with the
generation tokens it was built under: the global one (`ALL`) and those of the objects it shows
(a product, a group, a link, the catalogue's lists). A write replaces the tokens of what it
changed with fresh random ones, after its transaction commits (`bump`); a reader fetches the
tokens and the answer in one round trip (MGET) and uses the answer only if every token still
matches, otherwise it reads the database and stores the answer under the tokens it read.

Why this is never stale beyond a commit's own moment:

- the reader takes the tokens BEFORE it reads the database, and the writer bumps AFTER it
  commits. A reader that read the old rows therefore also read the old tokens, and stores what
  it built under them; the next reader sees the new tokens and misses. (Deleting a key after
  commit would not do: a reader that read the old rows just before the commit could store them
  just after the delete, for good.)
- a token is random, never a counter: a generation key the cache evicted is re-created with a
  new token, so nothing stored under the old one can match again.
- nothing is read from or stored in the cache inside a transaction (`in_atomic_block`): a read
  there may see rows of its own that later roll back.
- every answer also has a lifetime (READ_CACHE_SECONDS, and shorter when the answer changes with
  the clock: a group's deadline, a campaign's start or end), so even a write that bypassed every
  hook is seen within minutes.

If the cache cannot be reached, readers answer from the database and writers log the failure.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone, translation

logger = logging.getLogger(__name__)

ALL = "rc:all"
DEFAULT_SECONDS = 600
# A generation outlives every answer filed under it; when it lapses, the next reader draws a new
# token (a miss, never a stale hit). Only ALL is kept for good. A lapse keeps the keys readers
# create for ids that do not exist (a 404 is never stored, its generation is) from piling up.
GENERATION_SECONDS = 24 * 3600


def _generation_timeout(key: str) -> int | None:
    return None if key == ALL else GENERATION_SECONDS


def lifetime() -> int:
    return int(getattr(settings, "READ_CACHE_SECONDS", DEFAULT_SECONDS))


def enabled() -> bool:
    """READ_CACHE = False turns the cache off (answers built from the database every time)."""
    return bool(getattr(settings, "READ_CACHE", True))


def _token() -> str:
    return secrets.token_hex(8)


def bump(keys: Iterable[str]) -> None:
    """Give `keys` fresh tokens once the current transaction commits (at once outside one)."""
    keys = sorted(set(keys))
    if not keys:
        return

    def apply() -> None:
        try:
            lapsing = {key: _token() for key in keys if key != ALL}
            if len(lapsing) == 1:  # the common case (one group, one product): no pipeline to build
                [(key, token)] = lapsing.items()
                cache.set(key, token, timeout=GENERATION_SECONDS)
            elif lapsing:
                cache.set_many(lapsing, timeout=GENERATION_SECONDS)  # one round trip (a pipeline)
            if ALL in keys:
                cache.set(ALL, _token(), timeout=None)
        except Exception:  # the answers still expire with their lifetime
            logger.exception("read cache: could not bump %d generation(s)", len(keys))

    transaction.on_commit(apply, robust=True)


def bump_all() -> None:
    """Every cached answer is out of date (a bulk load, a data repair)."""
    bump([ALL])


def seconds_until(moment: datetime | None, now: datetime | None = None) -> float | None:
    if moment is None:
        return None
    return (moment - (now or timezone.now())).total_seconds()


def _tokens(gen_keys: list[str], found: dict[str, Any]) -> tuple[str, ...]:
    """The current tokens of `gen_keys`, creating the missing ones (`add`: the first writer wins)."""
    missing = [key for key in gen_keys if found.get(key) is None]
    if missing:
        for key in missing:
            cache.add(key, _token(), timeout=_generation_timeout(key))
        found = {**found, **cache.get_many(missing)}
    tokens = tuple(found.get(key) for key in gen_keys)
    if None in tokens:  # evicted between add and get: do not store under a token nobody holds
        raise LookupError("generation vanished")
    return tokens


def cached(
    key: str,
    gen_keys: Iterable[str],
    build: Callable[[], tuple[Any, float | None] | None],
    *,
    peek: Iterable[str] = (),
    peeked: dict[str, Any] | None = None,
) -> Any | None:
    """The value stored under `key` if its generations still hold, else `build()`'s, stored.

    `build()` answers (value, seconds it may live or None) or None (nothing to answer: not
    stored). A lifetime of 0 or less is not stored. Values are what the cache can pickle.
    `peek`: other cache keys read in the same round trip, their values put in `peeked` (nothing
    is put there when the cache is not read).
    """
    if connection.in_atomic_block or not enabled():
        built = build()
        return None if built is None else built[0]
    gen_keys = [ALL, *gen_keys]
    peek = list(peek)
    try:
        found = cache.get_many([*gen_keys, key, *peek])
        if peeked is not None:
            peeked.update({name: found[name] for name in peek if name in found})
        entry = found.get(key)
        tokens = tuple(found.get(k) for k in gen_keys)
        if entry is not None and entry[0] == tokens and None not in tokens:
            return entry[1]
        tokens = _tokens(gen_keys, found)
    except Exception:
        logger.warning("read cache unavailable for %s", key, exc_info=True)
        built = build()
        return None if built is None else built[0]
    built = build()
    if built is None:
        return None
    value, seconds = built
    timeout = lifetime() if seconds is None else min(lifetime(), int(seconds))
    if timeout > 0:
        try:
            cache.set(key, (tokens, value), timeout=timeout)
        except Exception:
            logger.warning("read cache: could not store %s", key, exc_info=True)
    return value


def api_answer(
    request, key: str, gen_keys: Iterable[str], build: Callable[[], tuple[Any, float | None] | None]
):
    """A DRF view's JSON answer through `cached`: the very bytes `Response(data)` would send.

    `build()` answers (data, seconds) or None (the view answers 404: None here).
    """
    answer = api_answer_with(request, key, gen_keys, lambda: _with_nothing(build()))
    return None if answer is None else answer[0]


def _with_nothing(built):
    return None if built is None else (*built, None)


def api_answer_with(
    request,
    key: str,
    gen_keys: Iterable[str],
    build: Callable[[], tuple[Any, float | None, Any] | None],
    *,
    peek: Iterable[str] = (),
    peeked: dict[str, Any] | None = None,
):
    """`api_answer` for a view that also needs facts kept beside the answer: `build()` answers
    (data, seconds, extra) or None; this answers (response, extra) or None. `peek`/`peeked`: as
    for `cached`.

    Only the plain JSON rendering is cached; a client that negotiated anything else
    (`application/json; indent=4`) gets it built afresh.
    """
    from django.http import HttpResponse
    from rest_framework.renderers import JSONRenderer
    from rest_framework.response import Response

    renderer = getattr(request, "accepted_renderer", None)
    if type(renderer) is not JSONRenderer or request.accepted_media_type != renderer.media_type:
        built = build()
        return None if built is None else (Response(built[0]), built[2])

    def rendered() -> tuple[tuple[bytes, Any], float | None] | None:
        built = build()
        if built is None:
            return None
        data, seconds, extra = built
        return (renderer.render(data, renderer.media_type, {}), extra), seconds

    # Per language as well: the answers vary by Accept-Language (LocaleMiddleware), should one
    # ever show a translated label.
    value = cached(f"{key}:{translation.get_language()}", gen_keys, rendered, peek=peek, peeked=peeked)
    if value is None:
        return None
    body, extra = value
    return HttpResponse(body, content_type=renderer.media_type), extra
