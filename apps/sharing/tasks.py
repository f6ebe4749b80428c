from celery import shared_task

from apps.wechat.errors import WeChatBusy, WeChatRateLimited

from . import services
from .errors import ShareLinkNotFound, TargetNotFound


@shared_task(
    name="sharing.render_poster",
    acks_late=True,
    autoretry_for=(WeChatBusy, WeChatRateLimited),
    retry_backoff=30,
    max_retries=5,
)
def render_poster(link_id: int) -> bool:
    """Draw and store a link's poster (and its QR code) ahead of the first request. Safe to run twice:
    a poster already drawn for the current content is left alone. False when there is nothing to draw."""
    try:
        services.poster_ensure(link_id=link_id)
    except (ShareLinkNotFound, TargetNotFound):
        return False
    return True


@shared_task(name="sharing.flush_visits")
def flush_visits() -> int:
    """Move the visits buffered in Redis to the database (services.visits_flush: safe to overlap)."""
    return services.visits_flush()
