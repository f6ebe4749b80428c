"""What can be shared: a registry of target kinds, filled by the apps that own them.

The sharing app never imports the apps whose things are shared. Each app registers a resolver for
its kind from its own `AppConfig.ready()`:

    from apps.sharing.targets import TargetInfo, register_target

    def resolve_group(target_id: int) -> TargetInfo | None:
        group = ...  # None when it does not exist or cannot be shared (closed, hidden)
        return TargetInfo(
            title="3人团 明前龙井 250g",
            price_fen=9900,                  # the normal price, in fen
            group_price_fen=6900,            # or None
            group_size=3,                    # or None
            image_url="https://.../share.jpg",  # a 5:4 cover for the WeChat card, or ""
            load_image=lambda: b"...",       # the picture's bytes for the poster, or None
            page="pages/group/index",        # the mini-program page (no leading "/", no query)
        )

    register_target("group", resolve_group)

Kinds are fixed by the contract: "product" (registered by the sharing app from the shop),
"group_buy" (a campaign id) and "group" (a group id), both registered by the group-buy app. A kind
nobody registered answers 400 on "target" naming the kinds that are; an id the resolver answers
None for answers 404. A resolver is called with an int, must not write, and should cost a query or
two (it runs when a link is created, a poster drawn and the landing page shown).

The mini-program opens `page` with `?id=<target_id>&share_code=<code>` (the card's path and the
URL link) or with `?scene=c%3D<code>` (the QR code); it passes `share_code` to login and orders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KNOWN_TARGETS: tuple[str, ...] = ("product", "group_buy", "group")


@dataclass(frozen=True)
class TargetInfo:
    title: str
    price_fen: int
    page: str
    image_url: str = ""
    load_image: Callable[[], bytes | None] | None = None
    group_price_fen: int | None = None
    group_size: int | None = None

    def image_bytes(self) -> bytes | None:
        """The poster picture, or None (the poster then draws its placeholder)."""
        if self.load_image is None:
            return None
        try:
            return self.load_image()
        except OSError:  # a file missing from storage must not stop a poster
            return None


Resolver = Callable[[int], "TargetInfo | None"]
_resolvers: dict[str, Resolver] = {}


def register_target(name: str, resolver: Resolver) -> None:
    """Make `name` shareable; registering again replaces the resolver (code reloads, tests)."""
    if name not in KNOWN_TARGETS:
        raise ValueError(f"unknown share target {name!r}; the contract knows {', '.join(KNOWN_TARGETS)}")
    if not callable(resolver):
        raise TypeError("resolver must be callable: resolver(target_id) -> TargetInfo | None")
    _resolvers[name] = resolver


def unregister_target(name: str) -> None:
    _resolvers.pop(name, None)


def registered_targets() -> list[str]:
    """Registered kinds, in the contract's order."""
    return [name for name in KNOWN_TARGETS if name in _resolvers]


def is_registered(name: str) -> bool:
    return name in _resolvers


def resolve(name: str, target_id: int) -> TargetInfo | None:
    """The target's card, or None when the kind is not registered or the id is unknown."""
    resolver = _resolvers.get(name)
    if resolver is None:
        return None
    info = resolver(int(target_id))
    if info is not None and not isinstance(info, TargetInfo):
        raise TypeError(f"the {name!r} resolver answered {type(info).__name__}, not TargetInfo")
    return info
