"""The admin: links with their statistics, bindings with their history, the policy as a setting."""

from __future__ import annotations

import pytest

from apps.sharing import services
from apps.sharing.models import BindingChange, BindingPolicy, CustomerBinding, ShareLink
from tests.accounts.factories import UserFactory
from tests.sharing.factories import make_koc_user, make_link, make_product

pytestmark = pytest.mark.django_db


def test_links_are_listed_with_their_stats_in_yuan_and_found_by_code_or_sharer(admin_client):
    # given
    sharer = make_koc_user(nickname="小红")
    link = make_link(sharer=sharer, product=make_product(title="明前龙井"))
    other = make_link(sharer=make_koc_user(nickname="小明"))
    ShareLink.objects.filter(pk=link.pk).update(visits=42, orders=3, gmv_fen=29_700)

    # when
    listing = admin_client.get("/admin/sharing/sharelink/").content.decode()
    by_code = admin_client.get("/admin/sharing/sharelink/", {"q": link.code}).content.decode()
    by_sharer = admin_client.get("/admin/sharing/sharelink/", {"q": "小明"}).content.decode()
    detail = admin_client.get(f"/admin/sharing/sharelink/{link.pk}/change/")

    # then
    assert "297.00" in listing and "42" in listing
    assert link.code in by_code and other.code not in by_code
    assert other.code in by_sharer and link.code not in by_sharer
    assert detail.status_code == 200
    assert admin_client.get("/admin/sharing/sharelink/add/").status_code == 403


def test_a_binding_shows_its_history_and_can_be_released(admin_client, admin_user):
    # given
    customer = UserFactory(nickname="顾客")
    first, second = make_koc_user(), make_koc_user()
    from apps.sharing.binding_rules import LAST_TOUCH
    from tests.sharing.factories import set_policy

    set_policy(mode=LAST_TOUCH, protection_days=0)
    services.binding_touch(customer=customer, link=make_link(sharer=first), via="api")
    services.binding_touch(customer=customer, link=make_link(sharer=second), via="login")
    binding = CustomerBinding.objects.get()

    # when
    page = admin_client.get(f"/admin/sharing/customerbinding/{binding.pk}/change/")
    released = admin_client.post(
        "/admin/sharing/customerbinding/",
        {"action": "release", "_selected_action": [binding.pk]},
        follow=True,
    )

    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('<td class="field-reason">') == 2
    assert "改绑" in html
    assert released.status_code == 200
    assert list(BindingChange.objects.order_by("id").values_list("reason", flat=True)) == [
        "bound",
        "switched",
        "released",
    ]
    assert BindingChange.objects.order_by("-id").first().changed_by == admin_user


def test_the_policy_is_one_editable_row(admin_client):
    # when
    listing = admin_client.get("/admin/sharing/bindingpolicy/")
    policy = BindingPolicy.load()
    saved = admin_client.post(
        f"/admin/sharing/bindingpolicy/{policy.pk}/change/",
        {"mode": "first_touch", "validity_days": 15, "protection_days": 3},  # the box left unticked
    )
    refused = admin_client.post(
        f"/admin/sharing/bindingpolicy/{policy.pk}/change/",
        {"mode": "last_touch", "validity_days": 5, "protection_days": 9},
    )

    # then
    assert listing.status_code == 302
    assert listing["Location"] == f"/admin/sharing/bindingpolicy/{policy.pk}/change/"
    assert saved.status_code == 302
    assert refused.status_code == 200  # the form again, with the error
    assert "保护期不能长于绑定有效期" in refused.content.decode()
    policy.refresh_from_db()
    assert (
        policy.mode,
        policy.validity_days,
        policy.protection_days,
        policy.share_code_wins_unprotected,
    ) == (
        "first_touch",
        15,
        3,
        False,
    )
    assert BindingPolicy.objects.count() == 1
    assert admin_client.get("/admin/sharing/bindingpolicy/add/").status_code == 403
    assert admin_client.get(f"/admin/sharing/bindingpolicy/{policy.pk}/delete/").status_code == 403


def test_the_change_history_list_renders(admin_client):
    services.binding_touch(
        customer=UserFactory(nickname="王顾客"), link=make_link(sharer=make_koc_user()), via="api"
    )

    response = admin_client.get("/admin/sharing/bindingchange/")

    assert response.status_code == 200
    assert "王顾客" in response.content.decode()
