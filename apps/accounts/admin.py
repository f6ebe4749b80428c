from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.core.exports import ExportMixin

from .models import Address, User


class AddressInline(admin.TabularInline):
    model = Address
    extra = 0


@admin.register(User)
class UserAdmin(ExportMixin, DjangoUserAdmin):
    export_filename = "users"
    export_columns = [
        ("ID", "id"),
        ("openid", "openid"),
        ("昵称", "nickname"),
        ("手机", "phone_masked"),
        ("注册时间", "date_joined"),
    ]
    list_display = ["id", "username", "nickname", "phone_masked", "openid", "is_staff", "date_joined"]
    search_fields = ["username", "openid", "unionid", "phone", "nickname"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        (
            "微信 WeChat",
            {"fields": ["openid", "unionid", "phone", "nickname", "avatar_url", "signup_invite_code"]},
        ),
    ]
    inlines = [AddressInline]

    @admin.display(description="手机")
    def phone_masked(self, user: User) -> str:
        return user.phone_masked
