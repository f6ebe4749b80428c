from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(name="reconciliation.reconcile_yesterday")
def reconcile_yesterday() -> str:
    """Beat, every morning after WeChat has made yesterday's bills (from about 10:00)."""
    from .services import reconcile

    return reconcile(bill_date=timezone.localdate() - timedelta(days=1)).status
