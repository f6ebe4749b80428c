"""bench_reads keeps working: it runs every hot read and its baseline (tiny sizes, no timing asserted).

The command itself stops if a baseline's answer differs from the project's by one byte, so this
also checks that the bare views run the same queries to the same answers.
"""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db(transaction=True)
def test_bench_reads_runs_each_read_against_its_baseline():
    out = StringIO()

    call_command("bench_reads", products=40, hot=5, requests=3, rounds=1, stdout=out, stderr=StringIO())

    lines = out.getvalue().splitlines()
    table = {line.split("  ")[0].strip(): line.split() for line in lines if line.startswith("GET ")}
    assert set(table) == {"GET products/{id}", "GET products", "GET share-links/{code}", "GET groups/{id}"}
    queries = {name: row[-1] for name, row in table.items()}  # warm/cold/baseline
    assert queries == {
        "GET products/{id}": "0/4/4",
        "GET products": "0/4/4",
        "GET share-links/{code}": "0/1/1",
        "GET groups/{id}": "0/2/2",
    }
