"""The sharing app's writes: links and visits, bindings, QR codes and posters, link statistics."""

from .bindings import BindingOutcome, binding_release, binding_touch, binding_touch_by_code
from .links import share_link_get_or_create, share_link_open, visit_record, visitor_key
from .media import poster_ensure, poster_png, qr_ensure, qr_png, url_link_ensure
from .stats import order_paid_record, order_refund_record
from .visits import visits_flush

__all__ = [
    "BindingOutcome",
    "binding_release",
    "binding_touch",
    "binding_touch_by_code",
    "order_paid_record",
    "order_refund_record",
    "poster_ensure",
    "poster_png",
    "qr_ensure",
    "qr_png",
    "share_link_get_or_create",
    "share_link_open",
    "url_link_ensure",
    "visit_record",
    "visitor_key",
    "visits_flush",
]
