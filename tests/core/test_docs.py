"""The documentation stands on its own and keeps up with the API.

docs/api.md is the API reference people read; the OpenAPI schema is what the code serves. A path the
code serves but the reference does not describe is a hole in the reference, so every path of the
schema must appear in docs/api.md, written as a code span relative to `/api/v1/`.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _code_spans(markdown: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", markdown))


@pytest.mark.django_db
def test_every_path_of_the_openapi_schema_is_described_in_docs_api_md(client):
    # given the schema the code serves, and the reference
    answer = client.get("/api/v1/schema/")
    assert answer.status_code == 200
    paths = yaml.safe_load(answer.content)["paths"]
    spans = _code_spans((ROOT / "docs" / "api.md").read_text(encoding="utf-8"))

    # when each schema path is looked up as a code span relative to the base path
    missing = sorted(p for p in paths if p.removeprefix("/api/v1/") not in spans)

    # then none is missing (and the schema is not empty, so the check means something)
    assert len(paths) >= 40
    assert missing == []


def test_the_documented_paths_check_finds_a_missing_path():
    """The lookup the test above relies on: an undocumented path is reported, a documented one is not."""
    spans = _code_spans("| GET `orders/{order_id}` | the order |\nPOST `orders`")

    assert "orders/{order_id}" in spans
    assert "orders" in spans
    assert "orders/{order_id}/pay" not in spans


def test_nothing_points_outside_the_repository():
    # given every text a clone has: README, docs, code, settings, tests
    texts = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    for folder in ("apps", "config", "tests", "templates"):
        texts += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".html", ".md", ".txt"}]

    # when looking for references to the documents outside it
    offenders = [
        str(p.relative_to(ROOT))
        for p in texts
        if re.search(r"\.\./shared|shared/(API|DOMAIN|STYLE)\.md", p.read_text(encoding="utf-8"))
    ]

    # then there are none, and the documents that replace them exist
    assert offenders == [], offenders
    assert (ROOT / "docs" / "api.md").is_file()
    assert (ROOT / "docs" / "domain.md").is_file()
