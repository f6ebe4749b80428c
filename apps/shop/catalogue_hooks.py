"""Hooks other apps fill to decorate the catalogue without the shop importing them.

The group-buy app sets a summary provider: `fn(product_ids) -> {product_id: {"campaign_id",
"group_price_fen", "group_size"}}`, answering for a whole page in one query. Without one, every
product's `group_buy` is null.

It may also give its provider a window provider: `fn(product_ids) -> (summaries, until)`, the same
summaries and the moment they next change by themselves (a campaign starting or ending), or
None; cached catalogue answers live no longer than that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

GroupBuySummaryProvider = Callable[[list[int]], "dict[int, dict[str, Any]]"]
_group_buy_summary_provider: GroupBuySummaryProvider | None = None
GroupBuyWindowProvider = Callable[[list[int]], "tuple[dict[int, dict[str, Any]], datetime | None]"]
_group_buy_window_providers: dict[GroupBuySummaryProvider, GroupBuyWindowProvider] = {}


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


def set_group_buy_window_provider(summaries: GroupBuySummaryProvider, window: GroupBuyWindowProvider) -> None:
    """`window` answers for `summaries` (used only while `summaries` is the summary provider)."""
    _group_buy_window_providers[summaries] = window


def group_buy_window(product_ids: Iterable[int]) -> tuple[dict[int, dict[str, Any]], datetime | None]:
    """The summaries and when they next change by themselves (None: not by themselves)."""
    ids = list(product_ids)
    if not ids or _group_buy_summary_provider is None:
        return {}, None
    window = _group_buy_window_providers.get(_group_buy_summary_provider)
    if window is None:
        return group_buy_summaries(ids), None
    summaries, until = window(ids)
    return summaries or {}, until
