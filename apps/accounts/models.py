from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

phone_validator = RegexValidator(r"^1[3-9]\d{9}$", _("Enter an 11-digit mainland China mobile number."))


class User(AbstractUser):
    """A shopper, a KOC or staff. WeChat users are keyed by their mini-program openid."""

    openid = models.CharField(max_length=128, unique=True, null=True, blank=True, verbose_name=_("openid"))
    unionid = models.CharField(max_length=128, blank=True, db_index=True, verbose_name=_("unionid"))
    phone = models.CharField(max_length=20, blank=True, db_index=True, verbose_name=_("phone"))
    nickname = models.CharField(max_length=64, blank=True, verbose_name=_("nickname"))
    avatar_url = models.URLField(max_length=500, blank=True, verbose_name=_("avatar"))
    # The invite code a new user arrived with (a KOC's), kept until they apply to become a KOC.
    signup_invite_code = models.CharField(max_length=16, blank=True, verbose_name=_("invite code at signup"))

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"

    def __str__(self) -> str:
        return self.nickname or self.username

    @property
    def display_name(self) -> str:
        return self.nickname or "微信用户"

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)


def mask_phone(phone: str) -> str:
    if len(phone) < 7:
        return phone
    return f"{phone[:3]}****{phone[-4:]}"


class Address(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("user"))
    name = models.CharField(max_length=32, verbose_name=_("receiver"))
    phone = models.CharField(max_length=20, validators=[phone_validator], verbose_name=_("phone"))
    province = models.CharField(max_length=32, verbose_name=_("province"))
    city = models.CharField(max_length=32, verbose_name=_("city"))
    district = models.CharField(max_length=32, verbose_name=_("district"))
    detail = models.CharField(max_length=200, verbose_name=_("street address"))
    is_default = models.BooleanField(default=False, verbose_name=_("default"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-is_default", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="one_default_address_per_user"
            )
        ]
        verbose_name = _("address")
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        return f"{self.name} {self.province}{self.city}{self.district}{self.detail}"

    def as_snapshot(self) -> dict:
        """What an order keeps of the address: a later edit of the address changes no order."""
        return {
            "name": self.name,
            "phone": self.phone,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "detail": self.detail,
        }
