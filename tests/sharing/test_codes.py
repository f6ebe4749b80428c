"""Codes are unguessable, never shared between links, and fit WeChat's scene rule."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from hypothesis import given
from hypothesis import strategies as st

from apps.sharing import codes
from apps.sharing.models import ShareLink
from apps.wechat.sandbox.miniprogram import SCENE_RE as SANDBOX_SCENE_RE
from tests.accounts.factories import UserFactory
from tests.sharing.factories import make_link, make_product

# WeChat's documented scene alphabet, spelled out independently of the code under test.
WECHAT_SCENE_CHARACTERS = set(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + "!#$&'()*+,/:;=?@-._~"
)
BASE62 = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def test_100000_codes_are_distinct_8_character_base62_and_their_scenes_are_valid():
    # when
    made = [codes.new_code() for _ in range(100_000)]

    # then
    assert len(set(made)) == 100_000
    assert all(len(code) == 8 and set(code) <= BASE62 for code in made)
    scenes = [codes.scene_for(code) for code in made]
    assert max(len(scene) for scene in scenes) <= 32
    assert set("".join(scenes)) <= WECHAT_SCENE_CHARACTERS
    assert all(SANDBOX_SCENE_RE.match(scene) for scene in scenes)
    # every character of the alphabet is drawn (the codes are not from a narrower set)
    assert set("".join(made)) == BASE62


@given(st.text(alphabet=sorted(BASE62), min_size=8, max_size=8))
def test_every_possible_code_makes_a_valid_scene_that_reads_back(code):
    scene = codes.scene_for(code)

    assert len(scene) <= 32
    assert set(scene) <= WECHAT_SCENE_CHARACTERS
    assert codes.code_from_scene(scene) == code


@pytest.mark.parametrize(
    "junk",
    ["", "abc", "abcdefghi", "abcd efg", "abcd-efg", "abcdefg\u4e2d", "ABCDEFG%", None, 12345678, "../../x"],
)
def test_junk_is_not_a_code(junk):
    assert not codes.is_code(junk)


@pytest.mark.django_db
def test_the_database_refuses_a_second_link_with_the_same_code():
    # given
    link = make_link(sharer=UserFactory())

    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        ShareLink.objects.create(
            code=link.code,
            scene="c=Zz999999",
            sharer=UserFactory(),
            target="product",
            target_id=link.target_id,
            page=link.page,
        )


@pytest.mark.django_db
def test_a_code_collision_draws_another_code(monkeypatch):
    # given: the generator answers an existing code first
    first = make_link(sharer=UserFactory())
    drawn = iter([first.code, "Fresh123"])
    monkeypatch.setattr(codes, "new_code", lambda: next(drawn))

    # when
    second = make_link(sharer=UserFactory(), product=make_product())

    # then
    assert second.code == "Fresh123"
    assert second.scene == "c=Fresh123"
    assert ShareLink.objects.count() == 2
