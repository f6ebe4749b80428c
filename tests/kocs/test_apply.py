"""Becoming a KOC: apply, review (approve / reject with a reason), koc/me."""

from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError
from apps.kocs import selectors, services
from apps.kocs.models import Koc, KocParentHistory
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client, error_code
from tests.kocs.factories import make_agency, make_branch, make_individual, make_leader

pytestmark = pytest.mark.django_db


def apply(client, **body):
    return client.post(
        "/api/v1/koc/apply", {"real_name": "李小花", "bio": "宝妈，爱喝茶", **body}, format="json"
    )


def test_a_shopper_applies_for_free_and_sees_pending(shopper, shopper_client):
    # when: no order, no fee: just the form
    resp = apply(shopper_client)

    # then
    assert resp.status_code == 201, resp.content
    assert resp.json() == {"status": "pending"}
    me = shopper_client.get("/api/v1/koc/me").json()
    assert me["status"] == "pending"
    assert me["role"] == "koc"
    assert me["level"] is None
    assert me["invite_code"] is None  # handed out only once approved
    assert me["parent"] is None
    assert me["real_name_masked"] == "李**"
    assert me["stats"] == {"own_sales_fen": 0, "team_sales_fen": 0, "direct_members": 0, "team_size": 0}
    assert shopper_client.get("/api/v1/me").json()["is_koc"] is False
    assert selectors.team_tree_problems() == []


def test_applying_twice_is_409_already_applied(shopper_client):
    assert apply(shopper_client).status_code == 201
    resp = apply(shopper_client)
    assert resp.status_code == 409
    assert error_code(resp) == "already_applied"
    assert Koc.objects.count() == 1


def test_an_approved_koc_cannot_apply_again(shopper, shopper_client):
    make_individual(user=shopper)
    resp = apply(shopper_client)
    assert resp.status_code == 409
    assert error_code(resp) == "already_applied"


def test_an_unknown_invite_code_is_400_invite_code_invalid(shopper_client):
    resp = apply(shopper_client, invite_code="NOPE99")
    assert resp.status_code == 400
    assert error_code(resp) == "invite_code_invalid"
    assert Koc.objects.count() == 0


def test_a_pending_kocs_or_a_branchs_code_is_not_an_invite_code(shopper_client):
    # given
    pending = services.koc_apply(user=UserFactory(), real_name="王五")
    branch = make_branch()

    # then
    for code in (pending.invite_code, branch.invite_code):
        resp = apply(shopper_client, invite_code=code)
        assert resp.status_code == 400
        assert error_code(resp) == "invite_code_invalid"


def test_koc_me_for_a_user_who_never_applied_is_404_not_a_koc(shopper_client):
    resp = shopper_client.get("/api/v1/koc/me")
    assert resp.status_code == 404
    assert error_code(resp) == "not_a_koc"
    assert error_code(shopper_client.get("/api/v1/koc/team")) == "not_a_koc"


def test_approval_places_the_applicant_under_the_koc_whose_code_it_used(shopper, shopper_client):
    # given
    leader = make_leader(invite_code="LILY2026")
    ops = UserFactory(is_staff=True)
    assert apply(shopper_client, invite_code="lily2026", favorite_category_ids=[]).status_code == 201
    koc = Koc.objects.get(user=shopper)
    assert koc.is_root_node() and koc.sponsor_id == leader.pk  # outside every team until approved

    # when
    services.koc_approve(koc=koc, by=ops)

    # then
    koc.refresh_from_db()
    assert koc.status == "approved" and koc.role == "koc"
    assert koc.parent_id == leader.pk
    assert koc.reviewed_by == ops and koc.approved_at is not None
    history = KocParentHistory.objects.get(koc=koc)
    assert history.parent_id == leader.pk and history.valid_to is None
    me = shopper_client.get("/api/v1/koc/me").json()
    assert me["status"] == "approved"
    assert me["parent"] == {"nickname": leader.user.nickname}
    assert me["invite_code"] == koc.invite_code
    assert len(koc.invite_code) == 6
    assert shopper_client.get("/api/v1/me").json()["is_koc"] is True
    assert Koc.objects.get(pk=leader.pk).team_size == 1
    assert selectors.team_tree_problems() == []


def test_an_agencys_code_recruits_a_team_leader(shopper, shopper_client):
    agency = make_agency()
    apply(shopper_client, invite_code=agency.invite_code)
    koc = services.koc_approve(koc=Koc.objects.get(user=shopper), by=None)
    assert koc.role == "leader" and koc.parent_id == agency.pk


def test_without_a_code_the_signup_invite_code_sets_the_sponsor(shopper, shopper_client):
    # given: the user arrived with a leader's invite link
    leader = make_leader()
    shopper.signup_invite_code = leader.invite_code
    shopper.save(update_fields=["signup_invite_code"])

    # when
    apply(shopper_client)
    koc = services.koc_approve(koc=Koc.objects.get(user=shopper), by=None)

    # then
    assert koc.parent_id == leader.pk


def test_a_stale_signup_invite_code_is_ignored(shopper, shopper_client):
    shopper.signup_invite_code = "GONE22"
    shopper.save(update_fields=["signup_invite_code"])
    assert apply(shopper_client).status_code == 201
    koc = services.koc_approve(koc=Koc.objects.get(user=shopper), by=None)
    assert koc.parent_id is None and koc.is_root_node()


def test_rejection_shows_the_reason_and_allows_a_new_application(shopper, shopper_client):
    # given
    apply(shopper_client)
    koc = Koc.objects.get(user=shopper)

    # when
    services.koc_reject(koc=koc, by=None, reason="简介过于简单，请补充您的社群情况")

    # then
    me = shopper_client.get("/api/v1/koc/me").json()
    assert me["status"] == "rejected"
    assert me["rejection_reason"] == "简介过于简单，请补充您的社群情况"
    assert shopper_client.get("/api/v1/me").json()["is_koc"] is False

    # when: the applicant applies again
    resp = apply(shopper_client, bio="宝妈，管理 3 个 500 人的社区团购群")

    # then
    assert resp.status_code == 201
    me = shopper_client.get("/api/v1/koc/me").json()
    assert me["status"] == "pending" and me["rejection_reason"] == ""
    assert Koc.objects.filter(user=shopper).count() == 1


def test_a_rejection_needs_a_reason_and_only_pending_applications_are_reviewed(shopper):
    koc = services.koc_apply(user=shopper, real_name="李小花")
    with pytest.raises(ApplicationError) as exc:
        services.koc_reject(koc=koc, by=None, reason=" ")
    assert exc.value.code == "reason_required"

    services.koc_approve(koc=koc, by=None)
    for review in (
        lambda: services.koc_approve(koc=koc, by=None),
        lambda: services.koc_reject(koc=koc, by=None, reason="晚了"),
    ):
        with pytest.raises(ApplicationError) as exc:
            review()
        assert exc.value.code == "koc_not_pending"


def test_approval_refuses_a_sponsor_who_was_suspended_meanwhile(shopper):
    leader = make_leader()
    koc = services.koc_apply(user=shopper, real_name="李小花", invite_code=leader.invite_code)
    services.koc_set_status(koc=leader, status=Koc.Status.SUSPENDED, by=None)

    with pytest.raises(ApplicationError) as exc:
        services.koc_approve(koc=koc, by=None)

    assert exc.value.code == "invalid_parent"
    assert Koc.objects.get(pk=koc.pk).status == "pending"


def test_the_id_number_is_kept_and_shown_masked(shopper, shopper_client):
    resp = apply(shopper_client, id_number="33010219900101008x")
    assert resp.status_code == 201
    koc = Koc.objects.get(user=shopper)
    assert koc.id_number == "33010219900101008X"
    me = shopper_client.get("/api/v1/koc/me").json()
    assert me["id_number_masked"] == "3301**********008X"
    assert "33010219900101008X" not in str(me)


def test_an_id_number_with_a_wrong_check_digit_is_refused_at_apply(shopper, shopper_client):
    resp = apply(shopper_client, id_number="33010219900101123X")  # the check digit is 4, not X
    assert (resp.status_code, error_code(resp)) == (400, "invalid_id_number")
    assert not Koc.objects.filter(user=shopper).exists()


def test_apply_validates_its_body(shopper_client):
    resp = shopper_client.post("/api/v1/koc/apply", {"bio": "x"}, format="json")
    assert resp.status_code == 400
    assert error_code(resp) == "validation_error"
    assert "real_name" in resp.json()["error"]["fields"]


def test_koc_me_needs_login(api_client):
    assert api_client.get("/api/v1/koc/me").status_code == 401


def test_invite_codes_are_unique_and_unambiguous():
    kocs = [make_individual() for _ in range(30)]
    codes = [k.invite_code for k in kocs]
    assert len(set(codes)) == 30
    for code in codes:
        assert len(code) == 6
        assert set(code) <= set(services.INVITE_ALPHABET)
        assert not set(code) & set("01ILO")


def test_a_taken_fixed_invite_code_is_refused():
    make_leader(invite_code="LILY2026")
    with pytest.raises(ApplicationError) as exc:
        make_leader(invite_code="LILY2026")
    assert exc.value.code == "invite_code_taken"


def test_bearer_client_of_an_approved_koc_sees_its_stats():
    # given
    leader = make_leader()
    child = make_individual(parent=leader)
    make_individual(parent=child)

    # when
    me = bearer_client(leader.user).get("/api/v1/koc/me").json()

    # then
    assert me["role"] == "leader"
    assert me["stats"] == {"own_sales_fen": 0, "team_sales_fen": 0, "direct_members": 1, "team_size": 2}
    assert me["parent"]["nickname"] == Koc.objects.get(pk=leader.parent_id).legal_name


@pytest.mark.django_db
def test_suspending_and_reinstating_are_audited_and_a_wrong_change_is_refused():
    # given
    from apps.core import audit

    ops = UserFactory(username="koc-ops", is_staff=True, openid=None)
    koc = make_individual(parent=make_leader())

    # when
    services.koc_set_status(koc=koc, status=Koc.Status.SUSPENDED, by=ops)
    with pytest.raises(ApplicationError) as refused:
        services.koc_set_status(koc=koc, status=Koc.Status.SUSPENDED, by=ops)
    services.koc_set_status(koc=koc, status=Koc.Status.APPROVED, by=ops)

    # then
    assert refused.value.code == "invalid_status"
    koc.refresh_from_db()
    assert koc.status == Koc.Status.APPROVED
    assert sorted(e.change_message for e in audit.history(koc)) == ["恢复 KOC 资格", "暂停 KOC 资格"]
    assert {e.user_id for e in audit.history(koc)} == {ops.pk}
