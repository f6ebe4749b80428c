"""`manage.py simulate` in CI: fixed seeds, chaos on, every invariant held."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_simulated_run_with_chaos_holds_every_invariant(seed):
    out = StringIO()

    try:
        call_command("simulate", days=2, seed=seed, chaos=0.15, stdout=out)
    except CommandError:
        pytest.fail(out.getvalue())

    text = out.getvalue()
    assert "FAIL" not in text, text
    assert text.count("\nok  ") == 6, text
