from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core import views as core_views

api_v1 = [
    path("", include("apps.accounts.urls")),
    path("", include("apps.shop.urls")),
    path("", include("apps.kocs.urls")),
    path("", include("apps.sharing.urls")),
    path("", include("apps.groupbuys.urls")),
    path("", include("apps.commissions.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's settings as a script file, not inline: the CSP forbids inline.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # Unknown API paths answer the contract's JSON 404, in DEBUG too.
    re_path(r"^.*$", core_views.not_found),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("s/", include("apps.sharing.landing_urls")),
    path("healthz", core_views.health),
]

if settings.WECHAT_SANDBOX:
    # Never mounted with the sandbox off; production settings refuse to start with it on.
    urlpatterns.append(path("wechat-sandbox/", include("apps.wechat.sandbox.urls")))

if settings.DEBUG:
    # `manage.py run` serves through gunicorn, which (unlike runserver) does not serve static files.
    urlpatterns += staticfiles_urlpatterns()
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
