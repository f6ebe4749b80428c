from django.urls import path

from . import apis

urlpatterns = [
    path("share-links", apis.ShareLinkCreateApi.as_view(), name="share-links"),
    path("share-links/<str:code>", apis.ShareLinkDetailApi.as_view(), name="share-link"),
    path("share-links/<str:code>/qr.png", apis.ShareLinkQrApi.as_view(), name="share-link-qr"),
    path("share-links/<str:code>/poster.png", apis.ShareLinkPosterApi.as_view(), name="share-link-poster"),
    path("koc/share-links", apis.KocShareLinkListApi.as_view(), name="koc-share-links"),
]
