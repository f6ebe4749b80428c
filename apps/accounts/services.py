"""Writes for users: WeChat login, phone binding, profile and addresses."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core import events
from apps.wechat import client as wechat

from .models import Address, User


def _user_for_openid(*, openid: str, unionid: str) -> tuple[User, bool]:
    user = User.objects.filter(openid=openid).first()
    if user:
        if unionid and user.unionid != unionid:
            User.objects.filter(pk=user.pk).update(unionid=unionid)
            user.unionid = unionid
        return user, False
    try:
        with transaction.atomic():
            user = User(username=openid, openid=openid, unionid=unionid)
            user.set_unusable_password()
            user.full_clean(exclude=["password"])
            user.save()
            return user, True
    except IntegrityError:  # two first logins at once: the other one created it
        return User.objects.get(openid=openid), False


def tokens_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _spend_refresh(raw: str) -> tuple[RefreshToken, User]:
    """Verify a refresh token and blacklist it, under a lock on its row: it works exactly once.

    simplejwt's own rotation checks the blacklist, then blacklists with get_or_create: two refreshes
    racing with one stolen token would both succeed. Locking the outstanding row makes the second
    wait and then find the token blacklisted. A user who is gone or inactive gets token_invalid.
    """
    try:
        token = RefreshToken(raw)  # signature, expiry, token type, and the blacklist
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    jti = token.payload.get(jwt_settings.JTI_CLAIM)
    outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise InvalidToken("Token is blacklisted")
    user = User.objects.filter(pk=token.payload.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is None or not user.is_active:
        raise InvalidToken("No active account found for the given token.")
    BlacklistedToken.objects.create(token=outstanding)
    return token, user


@transaction.atomic
def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate: a new access and refresh token for the old refresh token, which is then spent."""
    _token, user = _spend_refresh(refresh)
    return tokens_for(user)


@transaction.atomic
def logout(*, refresh: str) -> None:
    """Revoke a refresh token. Holding it is the credential (it could refresh, so it may revoke):
    a client whose access token has expired can still log out."""
    _spend_refresh(refresh)


def wechat_login(*, code: str, invite_code: str = "", share_code: str = "") -> tuple[User, dict[str, str]]:
    """Exchange a wx.login() code for our tokens, creating the user on first login.

    An `invite_code` is remembered for the user's KOC application; a `share_code` is published as
    `shopper_arrived` so the sharing app can bind the shopper to the sharer (the link's policy applies).
    """
    session = wechat.code_to_session(code)
    user, _created = _user_for_openid(openid=session["openid"], unionid=session.get("unionid", ""))
    if invite_code and not user.signup_invite_code:
        User.objects.filter(pk=user.pk, signup_invite_code="").update(signup_invite_code=invite_code[:16])
        user.signup_invite_code = invite_code[:16]
    if share_code:
        with transaction.atomic():
            events.publish(
                "shopper_arrived",
                {"user_id": user.pk, "share_code": share_code[:32], "via": "login"},
                key=f"shopper_arrived:{uuid.uuid4().hex}",
            )
    return user, tokens_for(user)


def bind_phone(*, user: User, code: str) -> User:
    """Store the phone number WeChat vouches for (getuserphonenumber; no client-side decryption)."""
    info = wechat.get_phone_number(code)
    phone = info.get("purePhoneNumber") or info.get("phoneNumber") or ""
    User.objects.filter(pk=user.pk).update(phone=phone)
    user.phone = phone
    return user


def user_update(*, user: User, nickname: str | None = None, avatar_url: str | None = None) -> User:
    fields = []
    if nickname is not None:
        user.nickname = nickname
        fields.append("nickname")
    if avatar_url is not None:
        user.avatar_url = avatar_url
        fields.append("avatar_url")
    if fields:
        user.full_clean(exclude=["password", "username", "openid"])
        user.save(update_fields=fields)
    return user


@transaction.atomic
def address_create(*, user: User, data: dict) -> Address:
    is_default = data.get("is_default") or not user.addresses.exists()
    if is_default:
        user.addresses.filter(is_default=True).update(is_default=False)
    address = Address(user=user, **{**data, "is_default": bool(is_default)})
    address.full_clean()
    address.save()
    return address


@transaction.atomic
def address_update(*, address: Address, data: dict) -> Address:
    if data.get("is_default"):
        Address.objects.filter(user_id=address.user_id, is_default=True).exclude(pk=address.pk).update(
            is_default=False
        )
    for field, value in data.items():
        setattr(address, field, value)
    address.full_clean()
    address.save()
    return address


@transaction.atomic
def address_delete(*, address: Address) -> None:
    was_default = address.is_default
    user_id = address.user_id
    address.delete()
    if was_default:
        nxt = Address.objects.filter(user_id=user_id).order_by("-id").first()
        if nxt:
            Address.objects.filter(pk=nxt.pk).update(is_default=True)
