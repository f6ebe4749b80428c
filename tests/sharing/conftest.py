import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """QR codes, posters and product pictures go to a fresh folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
