from django.urls import path

from . import apis

urlpatterns = [
    path("koc/apply", apis.KocApplyApi.as_view(), name="koc-apply"),
    path("koc/me", apis.KocMeApi.as_view(), name="koc-me"),
    path("koc/team", apis.KocTeamApi.as_view(), name="koc-team"),
]
