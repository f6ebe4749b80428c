"""Celery tasks: take ids, call services, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="commissions.settle_commissions")
def settle_commissions() -> dict:
    """Beat, hourly: free what is due, close ended periods, then look after stale transfers."""
    from .services.settlement import settle_commissions as settle
    from .services.withdrawals import withdrawals_poll_stale

    report = settle()
    polled = withdrawals_poll_stale()
    return {**report.__dict__, "transfers_polled": polled}


@shared_task(name="commissions.poll_withdrawal", acks_late=True)
def poll_withdrawal(withdrawal_id: int) -> str:
    from .services.withdrawals import withdrawal_poll

    return withdrawal_poll(withdrawal_id=withdrawal_id).status


@shared_task(name="commissions.poll_stale_withdrawals")
def poll_stale_withdrawals() -> int:
    """Ask WeChat about transfers that have not moved for five minutes (a lost notification), and
    cancel the ones left unconfirmed for almost 24 hours (before WeChat's expiry)."""
    from .services.withdrawals import withdrawals_cancel_unconfirmed, withdrawals_poll_stale

    return withdrawals_cancel_unconfirmed() + withdrawals_poll_stale()


@shared_task(name="commissions.resync_periods")
def resync_periods() -> dict:
    """Apply late completions and refunds to the closed reward periods they belong to."""
    from .services.periods import periods_resync

    return periods_resync().__dict__
