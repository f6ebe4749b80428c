"""Helpers shared by the periodic management commands (docs/api.md: each takes `--now ISO`)."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

NOW_HELP = "the current time, ISO 8601 with an offset, e.g. 2026-05-01T00:00:00+08:00 (default: now)"


def parse_now(value: str | None) -> datetime | None:
    """`--now` as an aware datetime, or None for "now"; anything else is a clear CommandError."""
    if not value:
        return None
    now = parse_datetime(value)
    if now is None or now.tzinfo is None:
        raise CommandError(f"--now must be an ISO 8601 datetime with an offset, not {value!r}")
    return now
