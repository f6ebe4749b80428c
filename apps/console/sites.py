from django.contrib import admin
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import dashboard


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("KOC storefronts console")
    site_title = _("KOC storefronts")
    index_title = _("Operations console")
    index_template = "admin/console_index.html"

    def index(self, request, extra_context=None):
        context = {"dashboard": dashboard.build(now=timezone.now(), user=request.user)}
        return super().index(request, {**context, **(extra_context or {})})

    def get_urls(self):
        from .shipping import ship_upload_view

        return [
            path(
                "console/ship-upload/",
                self.admin_view(lambda request: ship_upload_view(request, site=self)),
                name="console_ship_upload",
            ),
            *super().get_urls(),
        ]
