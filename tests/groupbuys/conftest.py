import pytest

from tests.groupbuys.factories import CampaignFactory


@pytest.fixture
def campaign(db):
    """API.md's demo numbers: 3-person groups at 6900 fen (list 9900), 24 hours, 2 units per user."""
    return CampaignFactory()


@pytest.fixture
def subscribe_sandbox(settings):
    """The sandbox with `cgi-bin/message/subscribe/send` mounted by a test-only urlconf (the shared
    sandbox urls file is the shop's; tests/groupbuys/urls.py adds the one route in front of it)."""
    settings.ROOT_URLCONF = "tests.groupbuys.urls"
