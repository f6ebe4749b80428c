"""Schemathesis over the whole OpenAPI schema, as a shopper, a KOC and an operator.

Every generated request must answer without a 5xx and every response must match the schema.
The schema grows with every endpoint, so this covers later steps too.

Every check runs except `positive_data_acceptance` ("a schema-valid request must not get a 400"):
the contract itself answers 400 to schema-valid input (`wechat_code_invalid` for a spent code,
`invalid_quantity`, an unknown invite code), which no OpenAPI schema can express.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from tests.accounts.factories import AddressFactory, UserFactory
from tests.helpers import bearer_header, token_header

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)

ROLES = ["shopper", "koc", "operator"]


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    """Schemathesis calls the WSGI app directly, so Django's close_old_connections runs at the end of
    every request and, finding the connection inside the test's transaction, closes it. Django's
    test client avoids this by disconnecting the signal, but nested test-client calls (the sandbox
    bridge) connect it again; so the test's own connection is simply never closed by it."""
    from django.db import connection

    monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: None)


@pytest.fixture
def role_headers(request, db, wechat_sandbox) -> dict[str, str]:
    role = request.param
    if role == "operator":
        return token_header(UserFactory(is_staff=True, username="schema-ops", openid=None))
    user = UserFactory(username=f"schema-{role}")
    AddressFactory(user=user, is_default=True)
    if role == "koc":
        from tests.schema_roles import make_koc

        make_koc(user)
    return bearer_header(user)


@pytest.mark.parametrize("role_headers", ROLES, indirect=True)
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_its_schema(case, role_headers):
    case.call_and_validate(headers=role_headers, excluded_checks=[positive_data_acceptance])
