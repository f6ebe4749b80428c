from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .exceptions import error_body


@csrf_exempt  # an API 404 for a POST must stay a 404, not become a CSRF 403
def not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "未找到"), status=404)


def server_error(request):
    return JsonResponse(error_body("server_error", "服务器内部错误"), status=500)


def health(request):
    return JsonResponse({"status": "ok"})
