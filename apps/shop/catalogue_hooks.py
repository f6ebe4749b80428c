"""Hooks other apps fill to decorate the catalogue without the shop importing them.

The group-buy app sets a summary provider: `fn(product_ids) -> {product_id: {"campaign_id",
"group_price_fen", "group_size"}}`, answering for a whole page in one query. Without one, every
product's `group_buy` is null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

GroupBuySummaryProvider = Callable[[list[int]], "dict[int, dict[str, Any]]"]
_group_buy_summary_provider: GroupBuySummaryProvider | None = None


def set_group_buy_summary_provider(fn: GroupBuySummaryProvider | None) -> None:
    global _group_buy_summary_provider
    _group_buy_summary_provider = fn


def get_group_buy_summary_provider() -> GroupBuySummaryProvider | None:
    return _group_buy_summary_provider


def group_buy_summaries(product_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = list(product_ids)
    if not ids or _group_buy_summary_provider is None:
        return {}
    return _group_buy_summary_provider(ids) or {}
