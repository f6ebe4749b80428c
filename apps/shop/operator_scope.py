"""What a staff user may do through the shop's ops API: the admin's permissions, and its brands.

Roles are the console's (apps/console/roles.py): the API asks exactly the permission the admin asks
for the same act, so a role that cannot ship in the admin cannot ship here either.

Which brands a user acts for is the shop's own brand scoping (apps/shop/brand_scope.py), the same
the admin applies: `brand_ids_for(user)` is None for an unrestricted operator, else its brands.
"""

from __future__ import annotations

from .brand_scope import brand_scope
from .errors import OperatorForbidden

# Shipping: the ship permission, or changing orders (which includes it), in the admin's ship
# action, its CSV upload and here alike.
SHIP_PERMISSIONS = ("shop.ship_order", "shop.change_order")
REFUND_DECISION_PERMISSION = "shop.change_refund"  # the refund admin's approve and reject actions
# Adding a picture in the admin is changing the product with an image inline added.
IMAGE_UPLOAD_PERMISSIONS = ("shop.change_product", "shop.add_productimage")


def brand_ids_for(user) -> list[int] | None:
    return brand_scope(user)


def can_ship(user) -> bool:
    return bool(user and user.is_active and any(user.has_perm(p) for p in SHIP_PERMISSIONS))


def require_ship(user) -> None:
    if not can_ship(user):
        raise OperatorForbidden()


def require(user, *permissions: str) -> None:
    """403 permission_denied unless the user holds every permission (superusers hold all)."""
    if not (user and user.is_active and user.has_perms(permissions)):
        raise OperatorForbidden()


def order_in_scope(user, order) -> bool:
    brands = brand_ids_for(user)
    return brands is None or order.items.filter(brand_id__in=brands).exists()


def product_in_scope(user, product) -> bool:
    brands = brand_ids_for(user)
    return brands is None or product.brand_id in brands


def refund_brand_ids(refund) -> set[int]:
    """The brands a refund touches: its returned lines' when it names lines, else its order's."""
    lines = getattr(refund, "items", None)
    if lines is not None and hasattr(lines, "values_list"):
        fields = {f.attname for f in lines.model._meta.concrete_fields}
        if "brand_id" in fields:
            brands = set(lines.values_list("brand_id", flat=True))
        elif "order_item_id" in fields:
            brands = set(lines.values_list("order_item__brand_id", flat=True))
        else:
            brands = set()
        if brands:
            return brands
    return set(refund.order.items.values_list("brand_id", flat=True))


def refund_wholly_in_scope(user, refund) -> bool:
    """A brand operator decides only refunds of its own lines: money of another brand's lines
    (or of a mixed order as a whole) is not its decision."""
    brands = brand_ids_for(user)
    return brands is None or refund_brand_ids(refund) <= set(brands)
