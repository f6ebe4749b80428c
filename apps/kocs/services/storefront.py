"""A KOC's storefront picks (选品) and its brand partnerships (品牌合作)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import User
from apps.core.errors import InvalidInput, NotFound
from apps.shop.models import Brand, Product

from ..errors import (
    InvitationNotPending,
    ProductNotAvailable,
    StorefrontFull,
)
from ..lock_objects import lock_koc
from ..models import (
    BrandInvitation,
    Koc,
    KocProductPick,
)

Role = Koc.Role
Status = Koc.Status

# --- storefront picks (选品) -----------------------------------------------------------------------

MAX_PICKS = 50


@transaction.atomic
def storefront_pick_add(*, koc: Koc, product_id: int) -> tuple[KocProductPick, bool]:
    """Feature a product in the KOC's storefront (last position). Adding it again changes nothing.

    Returns (pick, created). The KOC row is locked so the count and the position cannot race.
    """
    koc = lock_koc(koc_id=koc.pk)
    product = Product.objects.filter(pk=product_id, is_active=True, brand__is_active=True).first()
    if product is None:
        raise ProductNotAvailable()
    existing = KocProductPick.objects.filter(koc=koc, product=product).first()
    if existing is not None:
        return existing, False
    picks = KocProductPick.objects.filter(koc=koc)
    if picks.count() >= MAX_PICKS:
        raise StorefrontFull(gettext("A storefront holds at most %(count)s products.") % {"count": MAX_PICKS})
    last = picks.order_by("-position").values_list("position", flat=True).first()
    pick = KocProductPick(koc=koc, product=product, position=(last or 0) + 1)
    pick.full_clean()
    pick.save()
    return pick, True


@transaction.atomic
def storefront_pick_remove(*, koc: Koc, product_id: int) -> None:
    deleted, _ = KocProductPick.objects.filter(koc=koc, product_id=product_id).delete()
    if not deleted:
        raise NotFound(gettext("This product is not in the storefront."))


# --- brand partnerships ----------------------------------------------------------------------------


@transaction.atomic
def brand_invitation_create(
    *, brand: Brand, koc: Koc, message: str = "", by: User | None = None, affinity_score: int = 0
) -> BrandInvitation:
    """A brand invites a KOC to partner. One open invitation per brand and KOC."""
    koc = lock_koc(koc_id=koc.pk)
    if not (koc.is_approved and koc.is_individual):
        raise InvalidInput(gettext("Only approved individual KOCs can be invited."), code="koc_not_invitable")
    if BrandInvitation.objects.filter(brand=brand, koc=koc, status=BrandInvitation.Status.INVITED).exists():
        raise InvitationNotPending(
            gettext("This KOC has been invited already and has not answered yet."), code="already_invited"
        )
    invitation = BrandInvitation(
        brand=brand, koc=koc, message=message.strip()[:300], invited_by=by, affinity_score=affinity_score
    )
    invitation.full_clean()
    invitation.save()
    return invitation


@transaction.atomic
def brand_invitation_respond(*, invitation: BrandInvitation, accept: bool) -> BrandInvitation:
    """The invited KOC accepts or declines; only a pending invitation can be answered (else 409)."""
    invitation = BrandInvitation.objects.select_for_update().select_related("brand").get(pk=invitation.pk)
    if invitation.status != BrandInvitation.Status.INVITED:
        raise InvitationNotPending()
    invitation.status = BrandInvitation.Status.ACCEPTED if accept else BrandInvitation.Status.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    return invitation
