from django.urls import path

from . import apis

urlpatterns = [
    path("auth/wechat-login", apis.WechatLoginApi.as_view(), name="wechat-login"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="token-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="logout"),
    path("auth/phone", apis.PhoneApi.as_view(), name="auth-phone"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/addresses", apis.AddressListApi.as_view(), name="address-list"),
    path("me/addresses/<int:address_id>", apis.AddressDetailApi.as_view(), name="address-detail"),
]
