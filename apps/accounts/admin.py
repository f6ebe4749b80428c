from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

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
        (_("nickname"), "nickname"),
        (_("phone"), "phone_masked"),
        (_("date joined"), "date_joined"),
    ]
    list_display = ["id", "username", "nickname", "phone_masked", "openid", "is_staff", "date_joined"]
    search_fields = ["username", "openid", "unionid", "phone", "nickname"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        (
            _("WeChat"),
            {"fields": ["openid", "unionid", "phone", "nickname", "avatar_url", "signup_invite_code"]},
        ),
    ]
    inlines = [AddressInline]

    @admin.display(description=_("phone"))
    def phone_masked(self, user: User) -> str:
        return user.phone_masked

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        # Linking an operator to a brand (shop.BrandOperator) picks among staff users only.
        if request.GET.get("model_name") == "brandoperator" and request.GET.get("field_name") == "user":
            results = results.filter(is_staff=True)
        return results, duplicates
