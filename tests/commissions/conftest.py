from __future__ import annotations

import pytest

from tests.commissions.factories import earn_available, make_team


@pytest.fixture
def transfer_sandbox(wechat_sandbox):
    """The WeChat sandbox (its merchant-transfer routes are in the real URLconf)."""
    return wechat_sandbox


@pytest.fixture
def earn(db):
    """earn(koc, available_fen): give a KOC exactly that much available commission."""
    return earn_available


@pytest.fixture
def team(db):
    return make_team()
