"""Django's own error pages: under /api/ they answer the contract's error shape, elsewhere Django's."""

from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt

from .exceptions import error_body
from .middleware import is_api


@csrf_exempt  # an API 404 for a POST must stay a 404, not become a CSRF 403
def not_found(request, exception=None):
    if request.path_info.startswith("/api/") or exception is None:
        return JsonResponse(error_body("not_found", "未找到"), status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """SuspiciousOperation (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, a bad Host)."""
    if is_api(request):
        return JsonResponse(error_body("bad_request", "请求无效"), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api(request):
        return JsonResponse(error_body("permission_denied", "没有权限"), status=403)
    if _is_admin(request):
        # The admin's own page, in its look and language, with the way back to what the user may open.
        from django.contrib import admin
        from django.template.response import TemplateResponse

        context = {**admin.site.each_context(request), "title": _("You may not open this page")}
        response = TemplateResponse(request, "admin/403.html", context, status=403)
        return response.render()
    return defaults.permission_denied(request, exception)


def _is_admin(request) -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        prefix = reverse("admin:index")
    except NoReverseMatch:
        return False
    return request.path.startswith(prefix) and getattr(request, "user", None) is not None


def server_error(request):
    if is_api(request):
        return JsonResponse(error_body("server_error", "服务器内部错误"), status=500)
    return defaults.server_error(request)


def csrf_failure(request, reason=""):
    if is_api(request):
        return JsonResponse(error_body("csrf_failed", "CSRF 校验失败"), status=403)
    return django_csrf_failure(request, reason=reason)


def health(request):
    return JsonResponse({"status": "ok"})
