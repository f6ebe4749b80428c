"""Users in the console's roles, for the console's tests."""

from django.contrib.auth.models import Group
from django.test import Client

from apps.console.roles import BRAND_OPERATOR, FINANCE, PLATFORM_ADMIN
from apps.shop.models import BrandOperator
from tests.accounts.factories import UserFactory


def staff_in(group_name: str, *, username: str, brand=None):
    user = UserFactory(username=username, is_staff=True, openid=None)
    user.groups.add(Group.objects.get(name=group_name))
    if brand is not None:
        BrandOperator.objects.create(user=user, brand=brand)
    return user


def brand_operator(brand, *, username: str = "op-a"):
    return staff_in(BRAND_OPERATOR, username=username, brand=brand)


def finance(*, username: str = "finance"):
    return staff_in(FINANCE, username=username)


def platform_admin(*, username: str = "platform"):
    return staff_in(PLATFORM_ADMIN, username=username)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
