from django.urls import path

from . import apis

urlpatterns = [
    path("koc/apply", apis.KocApplyApi.as_view(), name="koc-apply"),
    path("koc/me", apis.KocMeApi.as_view(), name="koc-me"),
    path("koc/identity", apis.KocIdentityApi.as_view(), name="koc-identity"),
    path("koc/team", apis.KocTeamApi.as_view(), name="koc-team"),
    path("koc/storefront/products", apis.StorefrontPicksApi.as_view(), name="koc-storefront-products"),
    path(
        "koc/storefront/products/<int:product_id>",
        apis.StorefrontPickDetailApi.as_view(),
        name="koc-storefront-product",
    ),
    path("koc/partnerships", apis.PartnershipListApi.as_view(), name="koc-partnerships"),
    path(
        "koc/partnerships/<int:invitation_id>/accept",
        apis.PartnershipAcceptApi.as_view(),
        name="koc-partnership-accept",
    ),
    path(
        "koc/partnerships/<int:invitation_id>/decline",
        apis.PartnershipDeclineApi.as_view(),
        name="koc-partnership-decline",
    ),
    path("storefronts/<str:invite_code>", apis.PublicStorefrontApi.as_view(), name="storefront"),
]
