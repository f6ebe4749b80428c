from rest_framework.authentication import TokenAuthentication


class OperatorTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` for brand staff and ERP integrations (keys: create_ops_token)."""

    keyword = "Token"
