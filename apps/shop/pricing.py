"""What a buyer pays for one unit of a SKU: the list price, or a lower offer from a registered policy.

Other apps register policies without the shop importing them (the KOC app offers its tier price to
KOCs buying for themselves). Order creation snapshots the winning offer on the order item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.accounts.models import User

    from .models import Sku


@dataclass(frozen=True)
class PriceOffer:
    unit_price_fen: int
    source: str


PricePolicy = Callable[["User", "Sku"], "PriceOffer | None"]
_policies: list[PricePolicy] = []


def register_price_policy(policy: PricePolicy) -> PricePolicy:
    """Add `policy(buyer, sku) -> PriceOffer | None`; registering the same callable twice is a no-op."""
    if policy not in _policies:
        _policies.append(policy)
    return policy


def unregister_price_policy(policy: PricePolicy) -> None:
    if policy in _policies:
        _policies.remove(policy)


def unit_price_for(*, buyer: User, sku: Sku) -> PriceOffer:
    """The lowest of the list price and every policy's offer, never below 0 fen.

    Ties keep the list price (then the first registered policy), so "list" is reported whenever
    no policy actually lowers the price.
    """
    best = PriceOffer(unit_price_fen=int(sku.price_fen), source="list")
    for policy in _policies:
        offer = policy(buyer, sku)
        if offer is None:
            continue
        if isinstance(offer.unit_price_fen, bool) or not isinstance(offer.unit_price_fen, int):
            raise TypeError(f"{policy!r} offered a non-integer price {offer.unit_price_fen!r}")
        if offer.unit_price_fen < best.unit_price_fen:
            best = offer
    if best.unit_price_fen < 0:
        best = PriceOffer(unit_price_fen=0, source=best.source)
    return best
