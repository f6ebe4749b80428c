"""Writes of the KOC app, by flow: applications and reviews, profile and identity, the team tree,
tiers, the sales read model, storefront picks and brand partnerships."""

from .applications import (
    INVITE_ALPHABET,
    INVITE_LENGTH,
    koc_apply,
    koc_approve,
    koc_create,
    koc_reject,
    koc_set_status,
)
from .profile import identity_fields, koc_identity_set, koc_profile_update
from .sales import order_completed_record, order_refund_record
from .storefront import (
    MAX_PICKS,
    brand_invitation_create,
    brand_invitation_respond,
    storefront_pick_add,
    storefront_pick_remove,
)
from .tiers import (
    all_tiers_evaluate,
    evaluate_tiers_on_commit,
    koc_evaluate_tier,
    koc_set_level,
    upline_tiers_evaluate,
)
from .tree import ALLOWED_PARENT_ROLES, check_placement, koc_move, team_tree_rebuild

__all__ = [
    "ALLOWED_PARENT_ROLES",
    "INVITE_ALPHABET",
    "INVITE_LENGTH",
    "MAX_PICKS",
    "all_tiers_evaluate",
    "brand_invitation_create",
    "brand_invitation_respond",
    "check_placement",
    "evaluate_tiers_on_commit",
    "identity_fields",
    "koc_apply",
    "koc_approve",
    "koc_create",
    "koc_evaluate_tier",
    "koc_identity_set",
    "koc_move",
    "koc_profile_update",
    "koc_reject",
    "koc_set_level",
    "koc_set_status",
    "order_completed_record",
    "order_refund_record",
    "storefront_pick_add",
    "storefront_pick_remove",
    "team_tree_rebuild",
    "upline_tiers_evaluate",
]
