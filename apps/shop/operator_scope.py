"""Which brands a staff user may act on through the shop's ops API, asked through an interface the
shop owns (the console registers its brand scoping here; the shop never imports the console).

`brand_ids_for(user)` is None for an unrestricted operator, else the brands it acts for.
"""

from __future__ import annotations

from collections.abc import Callable

Scope = Callable[[object], "list[int] | None"]
_scope: Scope | None = None


def set_operator_scope(scope: Scope | None) -> None:
    global _scope
    _scope = scope


def brand_ids_for(user) -> list[int] | None:
    return _scope(user) if _scope is not None else None


def order_in_scope(user, order) -> bool:
    brands = brand_ids_for(user)
    return brands is None or order.items.filter(brand_id__in=brands).exists()
