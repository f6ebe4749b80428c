"""A fuzz of every endpoint's body (issue 15): whatever JSON, or whatever bytes, a client sends to any
POST/PUT/PATCH of the OpenAPI schema, the answer is never a 5xx.

Schemathesis (test_api_schema.py) sends schema-shaped requests; this sends what the schema forbids:
arbitrary JSON values nested to any depth, objects with the operation's own field names holding any
type, and raw bytes labelled as JSON. Path parameters point at real objects of the caller's (an
order, an address, a group, a refund), so the bodies reach the views' validation and services.
Bounded: a fixed number of derandomized examples per operation keeps CI's time flat.
"""

from __future__ import annotations

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.shop.services.refunds import refund_create
from tests.accounts.factories import AddressFactory, UserFactory
from tests.groupbuys.factories import CampaignFactory, open_group
from tests.helpers import bearer_header, token_header
from tests.schema_roles import make_koc
from tests.shop.factories import make_paid_order

EXAMPLES = 15


def _operations() -> list[tuple[str, str, list[str]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"post", "put", "patch"}:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema", {})
            if "$ref" in body:
                body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
            found.append((method.upper(), path, sorted(body.get("properties", {}))))
    return found


def _json_values():
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )


def _bodies(fields: list[str]):
    values = _json_values()
    shaped = st.fixed_dictionaries({}, optional={name: values for name in fields}) if fields else values
    as_json = (shaped | values).map(lambda v: json.dumps(v).encode())
    return as_json | st.binary(max_size=120)


@pytest.fixture
def world(db, wechat_sandbox):
    """A KOC shopper with an address, a paid order, a refund, an open group; an operator."""
    user = UserFactory(username="fuzz-koc")
    address = AddressFactory(user=user, is_default=True)
    make_koc(user)
    order = make_paid_order(buyer=user, address=address)
    refund = refund_create(order=order, amount_fen=1, reason="fuzz", requested_by=user)
    campaign = CampaignFactory()
    group, _order, _leader = open_group(campaign)
    ids = {
        "order_id": order.pk,
        "no": order.no,
        "address_id": address.pk,
        "refund_id": refund.pk,
        "campaign_id": campaign.pk,
        "group_id": group.pk,
        "product_id": campaign.product_id,
        "invitation_id": 1,
    }
    operator = UserFactory(is_staff=True, is_superuser=True, username="fuzz-ops", openid=None)
    return {"ids": ids, "shopper": bearer_header(user), "operator": token_header(operator)}


OPERATIONS = _operations()


@pytest.mark.parametrize(("method", "path", "fields"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_no_body_makes_any_endpoint_answer_5xx(world, client, method, path, fields):
    # An id this fixture does not make (an endpoint added later) is 1: still a real route, and the
    # body is parsed and validated before the object is looked up in most views.
    url = re.sub(r"\{(\w+)\}", lambda m: str(world["ids"].get(m.group(1), 1)), path)
    headers = world["operator"] if "/ops/" in path else world["shopper"]
    client.raise_request_exception = False

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=_bodies(fields))
    def fuzz(body: bytes):
        response = client.generic(
            method,
            url,
            data=body,
            content_type="application/json",
            headers={**headers, "Idempotency-Key": "fuzz"},
        )
        assert response.status_code < 500, (body, response.status_code, response.content[:300])

    fuzz()
