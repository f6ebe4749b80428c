"""What group buys plug into other apps at start-up: the catalogue's `group_buy` field and the
sharing app's share targets ("group_buy": a campaign, "group": one group)."""

from __future__ import annotations

import logging

from apps.shop.catalogue_hooks import set_group_buy_summary_provider, set_group_buy_window_provider

from . import selectors

logger = logging.getLogger(__name__)


def register() -> None:
    set_group_buy_summary_provider(selectors.live_campaign_summaries)
    set_group_buy_window_provider(selectors.live_campaign_summaries, selectors.live_campaign_window)
    try:
        from apps.sharing.targets import register_target
    except ImportError:  # the sharing app's target registry has not landed yet
        return
    from .sharing import group_buy_target, group_target

    register_target("group_buy", group_buy_target)
    register_target("group", group_target)
