from django.urls import path

from . import apis

urlpatterns = [
    path("group-buys", apis.CampaignListApi.as_view(), name="groupbuys-campaign-list"),
    path("group-buys/<int:campaign_id>", apis.CampaignDetailApi.as_view(), name="groupbuys-campaign-detail"),
    path("group-buys/<int:campaign_id>/groups", apis.GroupOpenApi.as_view(), name="groupbuys-group-open"),
    path("groups/<int:group_id>", apis.GroupDetailApi.as_view(), name="groupbuys-group-detail"),
    path("groups/<int:group_id>/join", apis.GroupJoinApi.as_view(), name="groupbuys-group-join"),
    path("subscriptions", apis.SubscriptionsApi.as_view(), name="groupbuys-subscriptions"),
]
