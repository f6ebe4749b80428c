"""How the schema test turns a user into a KOC; grows with the KOC app."""


def make_koc(user) -> None:
    try:
        from tests.kocs.factories import make_approved_koc
    except ImportError:  # the KOC app is not built yet: the KOC role is then a plain shopper
        return
    make_approved_koc(user=user)
