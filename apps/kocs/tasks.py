"""Celery tasks of the KOC app: they take ids, call services, and are safe to run twice."""

from celery import shared_task

from . import services


@shared_task(name="kocs.evaluate_upline_tiers", acks_late=True)
def evaluate_upline_tiers(koc_id: int) -> list[int]:
    """After a completed or refunded sale (or a team change): re-evaluate the KOC and its uplines."""
    return services.upline_tiers_evaluate(koc_id=koc_id)


@shared_task(name="kocs.evaluate_all_tiers")
def evaluate_all_tiers() -> int:
    """Nightly (beat): catches anything a lost per-order task missed and carries out downgrades whose
    waiting period ended (TierPolicy). Returns how many levels changed."""
    return services.all_tiers_evaluate()


@shared_task(name="kocs.refresh_team_trees")
def refresh_team_trees() -> dict[str, int]:
    """The one refresher: renumber the nested set of every tree with changes since its last pass
    (after commit of a structural write in a large tree, and every minute by beat). A second
    copy returns at once while one runs."""
    from .services.tree import refresh_team_trees as refresh

    return refresh(passes=20)
