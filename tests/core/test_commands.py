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


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--now", "2026-12-01T14:00:00+08:00"], "--now dates the scale data: give --scale too"),
        (["--scale", "0.01", "--now", "yesterday"], "--now must be an ISO 8601 datetime with an offset"),
        (["--scale", "0.01", "--now", "2999-01-01T00:00:00+08:00"], "--now is in the future"),
    ],
)
@pytest.mark.django_db
def test_seed_demo_refuses_a_now_it_cannot_use_before_seeding_anything(arguments, message):
    from apps.accounts.models import User

    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", *arguments)
    assert not User.objects.exists()
