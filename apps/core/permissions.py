from rest_framework.permissions import BasePermission


class IsOperator(BasePermission):
    """Brand staff and ERP integrations: an active staff user, usually behind `Authorization: Token`."""

    message = "仅限运营人员"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)
