from django.contrib import admin
from django.urls import path
from django.utils import timezone

from . import dashboard


class ConsoleAdminSite(admin.AdminSite):
    site_header = "KOC 小店运营后台"
    site_title = "KOC 小店"
    index_title = "运营控制台"
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
