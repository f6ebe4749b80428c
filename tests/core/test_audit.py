import pytest

from apps.core import audit
from tests.accounts.factories import UserFactory


@pytest.mark.django_db
def test_a_recorded_change_appears_on_the_objects_admin_history_page(client):
    # given
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, openid=None)
    target = UserFactory(username="sandbox-target")

    # when
    entry = audit.record(actor=admin, obj=target, message="等级手动调整为 金牌：活动奖励")

    # then
    assert [e.change_message for e in audit.history(target)] == ["等级手动调整为 金牌：活动奖励"]
    assert entry.user_id == admin.pk
    client.force_login(admin)
    page = client.get(f"/admin/accounts/user/{target.pk}/history/").content.decode()
    assert "等级手动调整为 金牌：活动奖励" in page
    assert "root" in page


@pytest.mark.django_db
def test_system_changes_without_an_actor_are_not_logged():
    target = UserFactory()

    assert audit.record(actor=None, obj=target, message="nightly") is None
    assert audit.history(target).count() == 0
