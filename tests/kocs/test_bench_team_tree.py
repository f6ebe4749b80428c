"""The tree benchmark keeps working (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.kocs import selectors
from apps.kocs.models import Koc, KocTreeChange


@pytest.mark.django_db
def test_bench_team_tree_runs_tiny_and_cleans_up():
    out = io.StringIO()
    call_command(
        "bench_team_tree",
        "--nodes=400",
        "--small=150",
        "--inserts=2",
        "--threads=1",
        "--seconds=0.5",
        "--inprocess",
        stdout=out,
        stderr=io.StringIO(),
    )
    text = out.getvalue()
    assert "ratio (large / small)" in text
    assert "inserts/s" in text
    assert "check_team_tree on" in text and "check_team_tree --fix after damaging" in text
    assert Koc.objects.count() == 0 and KocTreeChange.objects.count() == 0
    assert selectors.team_tree_problems() == []
