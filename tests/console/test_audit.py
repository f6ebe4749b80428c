"""Who decided a refund or changed a KOC, and when: on each object's admin History page."""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from apps.core import audit
from apps.kocs import services as koc_services
from apps.shop import services as shop_services
from tests.accounts.factories import UserFactory
from tests.helpers import token_client
from tests.kocs.factories import LevelFactory, make_approved_koc, make_leader
from tests.shop.factories import SkuFactory, make_paid_order


@pytest.fixture
def boss(db):
    return UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None)


@pytest.fixture
def boss_client(boss) -> Client:
    client = Client()
    client.force_login(boss)
    return client


@pytest.fixture
def refund(db):
    order = make_paid_order(sku=SkuFactory(price_fen=9900))
    return shop_services.refund_create(order=order, amount_fen=5000, reason="少发一件")


def _history(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_approving_a_refund_through_the_ops_api_is_logged_with_the_operator(boss, boss_client, refund):
    response = token_client(boss).post(
        f"/api/v1/ops/refunds/{refund.pk}/approve", {"note": "同意"}, format="json"
    )
    token_client(boss).post(f"/api/v1/ops/refunds/{refund.pk}/approve", {}, format="json")  # a repeat

    assert response.status_code == 200
    [entry] = audit.history(refund)  # the repeat changed nothing and logged nothing
    assert (entry.user, entry.change_message) == (boss, "已同意退款（运营接口）: requested → approved")
    assert "已同意退款（运营接口）" in _history(boss_client, f"/admin/shop/refund/{refund.pk}/history/")


def test_rejecting_a_refund_in_the_admin_is_logged_with_the_admin(boss, boss_client, refund):
    boss_client.post("/admin/shop/refund/", {"action": "reject_refunds", "_selected_action": [refund.pk]})

    refund.refresh_from_db()
    assert refund.status == "rejected"
    [entry] = audit.history(refund)
    # Readable: the statuses as the operator knows them, not their codes.
    assert (entry.user, entry.change_message) == (boss, "已拒绝退款（后台）：待审核 → 已拒绝")
    assert "已拒绝退款（后台）" in _history(boss_client, f"/admin/shop/refund/{refund.pk}/history/")


def test_setting_a_kocs_level_in_the_admin_is_logged_with_the_reason(boss, boss_client):
    koc, gold = make_approved_koc(), LevelFactory(name="金牌", rank=5)

    boss_client.post(
        "/admin/kocs/koc/",
        {
            "action": "set_level",
            "_selected_action": [koc.pk],
            "confirm": "1",
            "level": gold.pk,
            "reason": "年度优秀团长",
            "hold_until": "2099-12-31",
        },
    )

    koc.refresh_from_db()
    assert koc.level == gold
    entry = LogEntry.objects.get(object_id=str(koc.pk), change_message__startswith="等级")
    assert entry.user == boss
    assert entry.change_message.endswith("→ 金牌 (L5)，保持至 2099-12-31，原因: 年度优秀团长")
    assert "年度优秀团长" in _history(boss_client, f"/admin/kocs/koc/{koc.pk}/history/")


def test_approving_and_rejecting_applications_are_logged(boss, boss_client):
    leader = make_leader()
    yes = koc_services.koc_apply(user=UserFactory(), real_name="王五", invite_code=leader.invite_code)
    no = koc_services.koc_apply(user=UserFactory(), real_name="赵六")

    boss_client.post(
        "/admin/kocs/koc/", {"action": "approve", "_selected_action": [yes.pk], "confirm": "yes"}
    )
    koc_services.koc_reject(koc=no, by=boss, reason="资料不全")

    assert [e.user for e in audit.history(yes)] == [boss]
    assert audit.history(yes)[0].change_message.startswith("通过 KOC 申请")
    assert audit.history(no)[0].change_message == "拒绝 KOC 申请: 资料不全"
    assert "资料不全" in _history(boss_client, f"/admin/kocs/koc/{no.pk}/history/")


def test_automatic_changes_are_not_put_in_the_admin_log(db):
    koc = make_approved_koc()

    koc_services.koc_set_level(koc=koc, level=LevelFactory(), by=None, reason="达标自动升级")

    assert not audit.history(koc).exists()
