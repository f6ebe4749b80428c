from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import Address, User


class AddressInline(admin.TabularInline):
    model = Address
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["id", "username", "nickname", "phone", "openid", "is_staff", "date_joined"]
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
