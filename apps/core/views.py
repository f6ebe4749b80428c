from django.http import JsonResponse

from .exceptions import error_body


def not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "未找到"), status=404)


def server_error(request):
    return JsonResponse(error_body("server_error", "服务器内部错误"), status=500)


def health(request):
    return JsonResponse({"status": "ok"})
