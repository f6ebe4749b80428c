import pytest
from django.core.management import CommandError, call_command

from apps.core.commands import parse_now

PERIODIC = ["cancel_unpaid_orders", "auto_confirm_orders", "expire_groups", "settle_commissions"]


def test_parse_now_takes_aware_iso_times_only():
    assert parse_now(None) is None
    assert parse_now("2026-05-01T00:00:00+08:00").utcoffset().total_seconds() == 8 * 3600


@pytest.mark.django_db
@pytest.mark.parametrize("command", PERIODIC)
@pytest.mark.parametrize("value", ["2026-05-01T00:00:00", "yesterday"])
def test_every_periodic_command_refuses_a_now_without_an_offset(command, value):
    with pytest.raises(CommandError, match="--now must be an ISO 8601 datetime with an offset"):
        call_command(command, "--now", value)
