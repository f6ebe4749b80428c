"""Who an order is attributed to: answered by a resolver the KOC/sharing app sets; the shop stores ids.

The resolver is `fn(*, buyer, share_code) -> dict | None` with keys koc_id (int), share_link_id
(int | None), source (str), policy (dict) and self_purchase (bool). The shop keeps the whole dict on
the order as its attribution snapshot. An order never fails because of attribution.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

logger = logging.getLogger(__name__)

Resolver = Callable[..., "dict[str, Any] | None"]
_resolver: Resolver | None = None


def set_attribution_resolver(fn: Resolver | None) -> None:
    global _resolver
    _resolver = fn


def get_attribution_resolver() -> Resolver | None:
    return _resolver


def resolve_attribution(*, buyer, share_code: str | None) -> dict[str, Any] | None:
    """The resolver's answer, or None when there is none or it fails (logged, never raised).

    Inside a transaction it runs in a savepoint: a database error inside it must not poison the
    order's transaction. Outside one (an order drafted before its transaction opens) its reads
    run on their own and need none.
    """
    if _resolver is None:
        return None
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                result = _resolver(buyer=buyer, share_code=share_code or None)
        else:
            result = _resolver(buyer=buyer, share_code=share_code or None)
    except Exception:
        logger.exception("attribution resolver failed for buyer %s (share_code %r)", buyer.pk, share_code)
        return None
    if not result or not isinstance(result, dict) or not result.get("koc_id"):
        return None
    return result
