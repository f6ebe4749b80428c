"""`seed_demo --scale N`: a large, truthful data set for the console's dashboard and the benchmarks.

At N = 1: about 2,000 approved KOCs in two branches (2 branches -> 6 agencies -> ~120 leaders -> KOC
chains up to 14 levels deep), ~60 pending applications, ~10,000 orders paid over the last 60 days
(paid, shipped, completed, refunded, partially refunded, cancelled), ~150 group buys that succeeded
or failed, after-sales requests waiting for an operator, and everything the shop's events lead to.
`--kocs` / `--orders` set those totals outright (1,000,000 each for the benchmarks).

It tells the truth, by flow:

- people.py: users and the team tree in batches, the nested set computed in one pass, each KOC's
  parent history and entry level as `koc_create` and its tier evaluation leave them;
- timeline.py: each order's story decided up front (group buys ship only after their group
  succeeded; only the engine's window is attributed to KOCs);
- shop_rows.py: the shop's rows as its services leave them at the end of each story (receiver
  phone, payment, parcel, refunds, groups; the window's orders attributed by the sharing app after
  the buyer opened the KOC's link), and the same payments and refunds stored in the WeChat Pay
  sandbox, so that every seeded refund can be approved and succeeds; rows.py writes them (COPY);
- replay.py: the shop's events of the window, published by the shop's own publishers at their
  moment (the clock set back, clock.py) and delivered to every subscriber - commissions, ledger,
  KOC sales, tiers, group buys, share links - then the after-sales requests made through
  `refund_create`.

Everything generated is marked (usernames `scale-...`, order numbers `SC...`, invite codes `S...`,
branches registered as `SCALE-...`), so a second run finds the marker and does nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core import readcache
from apps.groupbuys.models import CampaignUsage, Group, GroupMember
from apps.kocs.models import Koc, KocParentHistory, KocProductPick, LevelHistory
from apps.shop.models import ShipmentItem

from . import catalogue, people, replay, rows, shop_rows, timeline
from .plan import MARKER_PREFIX, ORDER_PREFIX, Plan, Report

__all__ = ["MARKER_PREFIX", "ORDER_PREFIX", "Plan", "Report", "existing_scale", "seed_scale"]

# Below this many orders every seeded payment is stored in the WeChat Pay sandbox; above it, those
# of the window, of refunded orders and of orders not yet completed (what a refund can still reach).
SANDBOX_ALL = 200_000


class _Phase:
    """Times one phase of the seed and reports it."""

    def __init__(self, report: Report, stdout: TextIO, label: str):
        self.report, self.stdout, self.label = report, stdout, label

    def __enter__(self):
        self.began = time.perf_counter()
        return self

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.began
        self.report.timings.append((self.label, elapsed))
        if exc[0] is None:
            self.stdout.write(f"  {self.label}: {elapsed:.1f} s\n")


def existing_scale() -> str | None:
    """The marker of the scale data already present (e.g. 'SCALE-x1'), or None."""
    return (
        Koc.objects.filter(role=Koc.Role.BRANCH, registration_number__startswith=MARKER_PREFIX)
        .values_list("registration_number", flat=True)
        .first()
    )


def _warn_about_wechat(stdout: TextIO, *, orders: int) -> None:
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if not settings.WECHAT_SANDBOX:
        stdout.write(
            "warning: WECHAT_SANDBOX is off: the seeded payments exist at no WeChat Pay, so refunds of "
            "seeded orders will fail there\n"
        )
    elif (
        not isinstance(cache, RedisCache)
        and getattr(cache, "_max_entries", None)
        and cache._max_entries < 2 * orders
    ):
        # Redis keeps every entry (Django's MAX_ENTRIES, 300 by default, means nothing to it); the
        # file and local-memory caches cull beyond it.
        stdout.write(
            "warning: the WeChat sandbox keeps its state in the cache, which keeps "
            f"{cache._max_entries:,} entries: set REDIS_URL for seeded payments to stay refundable\n"
        )


def seed_scale(
    *,
    scale: float,
    stdout: TextIO,
    now: datetime | None = None,
    rng_seed: int = 20260101,
    kocs: int | None = None,
    orders: int | None = None,
) -> Report:
    """Create the scale data set once (see the module docstring); a second call does nothing."""
    report = Report()
    marker = existing_scale()
    if marker is not None:
        stdout.write(f"scale data already present ({marker}): nothing to do\n")
        report.skipped = True
        return report
    plan = Plan.for_scale(scale, kocs=kocs, orders=orders)
    now = now or timezone.now()
    rng = random.Random(rng_seed)
    tag = f"{MARKER_PREFIX}x{scale:g}"
    stdout.write(
        f"seeding scale x{scale:g}: {plan.kocs + plan.leaders} KOCs, {plan.orders} orders, "
        f"{plan.groups} group buys\n"
    )
    _warn_about_wechat(stdout, orders=plan.orders)
    with _no_wait_for_disk():
        return _seed(plan, scale, stdout, now=now, rng=rng, seed=rng_seed, tag=tag, report=report)


@contextmanager
def _no_wait_for_disk() -> Iterator[None]:
    """PostgreSQL commits without waiting for the WAL flush while seeding (synchronous_commit off,
    this session only): the replay commits thousands of small transactions, and a crash can lose
    only the last ones of a seed that is then run again on a fresh database - never corrupt it."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        before = cursor.fetchone()[0]
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [before])


def _seed(plan: Plan, scale: float, stdout: TextIO, *, now, rng, seed, tag, report) -> Report:
    began = time.perf_counter()

    with _Phase(report, stdout, "catalogue"), transaction.atomic():
        skus = catalogue.catalogue()
        campaign = catalogue.campaign(skus, now)
    with _Phase(report, stdout, "users"):
        folks = people.create_users(plan, stdout)
    with _Phase(report, stdout, "team tree"):
        team = people.grow_team(plan, rng, now, folks)
        people.insert_team(plan, rng, now, team, folks, tag, stdout)
        people.add_picks(team, sorted({s.product_id for s in skus}), rng)
        rows.analyze(User, Koc, KocParentHistory, LevelHistory, KocProductPick)
    window: list[timeline.PlannedOrder] = []
    with _Phase(report, stdout, "orders"):
        plan_times = timeline.Timeline.plan(plan, rng, now)
        sellers = timeline.Sellers(team)
        writer = shop_rows.Writer(folks, register_all=plan.orders <= SANDBOX_ALL)
        writer.team_user_id = team.user.__getitem__
        from apps.core.progress import Progress

        with Progress(plan.orders, label="orders", stream=stdout) as bar:
            for chunk in timeline.standard_orders(plan, plan_times, skus, sellers, plan.buyers, now, seed):
                for start in range(0, len(chunk), 2000):
                    with transaction.atomic():
                        writer.write(chunk[start : start + 2000])
                    bar.advance(len(chunk[start : start + 2000]))
                window += [o for o in chunk if o.in_window]
        groups = timeline.group_orders(
            plan, campaign, sellers, plan.buyers, now, plan_times.window_start, seed
        )
        with transaction.atomic():
            writer.write_groups(groups, campaign)
            writer.finish()
        window += [o for g in groups for o in g.orders if o.in_window]
        rows.analyze(*shop_rows.MODELS, ShipmentItem, Group, GroupMember, CampaignUsage)
    with _Phase(report, stdout, "events"):
        report.counts["events"] = replay.publish(window, now=now, stdout=stdout)
    with _Phase(report, stdout, "refund requests"):
        replay.request_refunds(window, plan.refund_requests, rng, now=now)

    readcache.bump_all()  # stock, sales, groups written in bulk, past the models' signals
    total = time.perf_counter() - began
    report.timings.append(("total", total))
    report.counts.update(
        {
            "kocs": len(team),
            "pending": plan.pending,
            "orders": plan.orders + sum(len(g.orders) for g in groups),
            "groups": plan.groups,
            "window_orders": len(window),
        }
    )
    stdout.write(f"scale x{scale:g} seeded in {total:.1f} s\n")
    return report
