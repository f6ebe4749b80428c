import pytest

from tests.groupbuys.factories import CampaignFactory


@pytest.fixture
def campaign(db):
    """docs/api.md's demo numbers: 3-person groups at 6900 fen (list 9900), 24 hours, 2 units per user."""
    return CampaignFactory()
