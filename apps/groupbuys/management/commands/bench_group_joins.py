"""Benchmark (not a test): N concurrent joiners against G hot groups, on the configured PostgreSQL.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/gbbench DEBUG=0
    python manage.py migrate
    python manage.py bench_group_joins --joiners 2000 --groups 50 --size 5 --connections 30

It creates its own brand, product, campaign, leaders (each opens one group) and joiners, then
releases all joiners at once on `--connections` threads spread over `--processes` forked worker
processes (each thread with its own database connection, opened before the clock starts, as an
app server's workers would have) and times each `group_join` call through the real service: seat
UPDATE, per-user limit, stock reservation, order, member. All groups share one SKU, so every
join also queues for that SKU's stock row, as real hot campaigns do.

It prints attempts and joins per second, p50/p99 latency, successes, refusals by code, and the
oversell count (active members beyond a group's size, which must be 0), and checks that each
group's `joined` counter equals its active members and the stock taken equals the orders made
(it exits with an error if any of these fails).
Celery messages the services send after commit (payment timeouts, expiries) go to an in-memory
broker and are dropped: the benchmark leaves no work for a real worker.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db import connections as db_connections
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.models import Address, User
from apps.core.errors import ApplicationError
from apps.groupbuys import services
from apps.groupbuys.models import Campaign, Group, GroupMember
from apps.shop.models import Brand, Category, Order, Product, Sku


def _worker_process(threads: int, work, answers, ready, go) -> None:
    """One forked worker: `threads` threads, each opens its connection, waits for the start, then
    takes attempts from the shared queue until it is empty."""

    def run() -> None:
        try:
            connection.ensure_connection()  # opened before the clock starts
            ready.release()
            go.wait()
            while True:
                try:
                    group_id, address_id = work.get(timeout=0.5)
                except queue.Empty:
                    return
                address = Address.objects.select_related("user").get(pk=address_id)
                began = time.perf_counter()
                try:
                    services.group_join(
                        group=Group(pk=group_id), buyer=address.user, quantity=1, address=address
                    )
                    outcome = "joined"
                except ApplicationError as exc:
                    outcome = exc.code
                except Exception as exc:  # reported, never hidden
                    outcome = f"error:{type(exc).__name__}: {exc}"[:200]
                answers.put((outcome, began, time.perf_counter()))
        finally:
            connection.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of all at or below it."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


class Command(BaseCommand):
    help = "Benchmark concurrent group joins on PostgreSQL: joins/s, p50/p99 latency, oversell (must be 0)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--joiners", type=int, default=1000, help="shoppers who try to join (one attempt each)"
        )
        parser.add_argument(
            "--groups", type=int, default=20, help="hot groups the joiners aim at (round robin)"
        )
        parser.add_argument(
            "--size", type=int, default=5, help="seats per group (2 to 100); the leader holds one"
        )
        parser.add_argument(
            "--connections", type=int, default=30, help="concurrent joiners: threads, one DB connection each"
        )
        parser.add_argument(
            "--profile",
            type=int,
            default=0,
            help="also time N sequential joins in this process (no contention): Python vs database per join",
        )
        parser.add_argument(
            "--profile-top", type=int, default=0, help="with --profile: print cProfile's top N functions"
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=os.cpu_count() or 1,
            help="worker processes the threads are spread over (default: one per CPU)",
        )

    def handle(
        self,
        *args,
        joiners: int,
        groups: int,
        size: int,
        connections: int,
        processes: int,
        profile: int = 0,
        profile_top: int = 0,
        **options,
    ):
        if connection.vendor != "postgresql":
            raise CommandError("bench_group_joins measures PostgreSQL: set DATABASE_URL=postgres://...")
        if min(joiners, groups, connections, processes) < 1 or not 2 <= size <= 100:
            raise CommandError(
                "--joiners, --groups, --connections, --processes must be positive; --size 2 to 100"
            )
        processes = min(processes, connections)
        if settings.DEBUG:
            self.stderr.write("note: DEBUG is on (every query is logged in memory); run with DEBUG=0")
        self._drop_celery_messages()
        run = uuid.uuid4().hex[:8]
        if profile:
            self._profile(run=run, joins=profile, size=size, top=profile_top)
        campaign, hot_groups = self._setup(run=run, groups=groups, size=size, stock=joiners + groups + 10)
        users = self._joiners(run=run, count=joiners)
        sku_before = Sku.objects.get(pk=campaign.sku_id).stock

        results, wall = self._run(
            hot_groups=hot_groups, users=users, connections=connections, processes=processes
        )
        self._report(
            wall=wall,
            campaign=campaign,
            hot_groups=hot_groups,
            results=results,
            sku_before=sku_before,
            joiners=joiners,
            size=size,
            connections=connections,
            processes=processes,
        )

    def _profile(self, *, run: str, joins: int, size: int, top: int) -> None:
        """Sequential joins in this process: wall time per join split into time spent waiting for
        PostgreSQL (inside cursor.execute) and the rest, which is Python (ORM, services)."""
        import cProfile
        import io
        import pstats

        groups = math.ceil(joins / (size - 1))
        _campaign, targets = self._setup(run=f"{run}-p", groups=groups, size=size, stock=joins + groups + 10)
        users = self._joiners(run=f"{run}-p", count=joins)
        attempts = [(targets[i % groups], user, address) for i, (user, address) in enumerate(users)]
        # One join to warm caches (content types, prepared statement plans) before timing.
        warm_user, warm_address = self._users(run=f"{run}-pw", count=1)[0]
        services.group_join(group=Group(pk=targets[0].pk), buyer=warm_user, quantity=1, address=warm_address)
        database = [0.0, 0]

        def timed(execute, sql, params, many, context):
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                database[0] += time.perf_counter() - began
                database[1] += 1

        profiler = cProfile.Profile() if top else None
        with connection.execute_wrapper(timed):
            began = time.perf_counter()
            if profiler:
                profiler.enable()
            for group, user, address in attempts:
                services.group_join(group=Group(pk=group.pk), buyer=user, quantity=1, address=address)
            if profiler:
                profiler.disable()
            wall = time.perf_counter() - began
        per_join = wall / joins * 1000
        db_per_join = database[0] / joins * 1000
        self.stdout.write(
            f"profile:    {joins} sequential joins: {per_join:.2f} ms per join = "
            f"Python {per_join - db_per_join:.2f} ms + database {db_per_join:.2f} ms "
            f"({database[1] / joins:.1f} statements)"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
            self.stdout.write(out.getvalue())

    @staticmethod
    def _drop_celery_messages() -> None:
        from config.celery import app

        app.conf.broker_url = "memory://"
        app.conf.task_always_eager = False

    def _setup(self, *, run: str, groups: int, size: int, stock: int):
        brand = Brand.objects.create(name=f"bench-{run}")
        category = Category.objects.create(name=f"bench-{run}")
        product = Product.objects.create(brand=brand, category=category, title=f"bench {run}")
        sku = Sku.objects.create(product=product, spec="1", price_fen=9900, stock=stock)
        now = timezone.now()
        campaign = Campaign.objects.create(
            product=product,
            sku=sku,
            group_price_fen=6900,
            group_size=size,
            duration_minutes=60,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=1),
            per_user_limit=1,
        )
        leaders = self._users(run=f"{run}-leader", count=groups)
        hot = []
        for leader, address in leaders:
            group, _order = services.group_open(campaign=campaign, leader=leader, quantity=1, address=address)
            hot.append(group)
        return campaign, hot

    def _joiners(self, *, run: str, count: int):
        return self._users(run=f"{run}-joiner", count=count)

    @staticmethod
    def _users(*, run: str, count: int) -> list[tuple[User, Address]]:
        users = User.objects.bulk_create(
            [
                User(username=f"bench-{run}-{i}", openid=f"bench-{run}-{i}", nickname=f"b{i}")
                for i in range(count)
            ]
        )
        addresses = Address.objects.bulk_create(
            [
                Address(
                    user=u,
                    name="压测",
                    phone="13800000000",
                    province="浙江省",
                    city="杭州市",
                    district="西湖区",
                    detail="1 号",
                )
                for u in users
            ]
        )
        return list(zip(users, addresses, strict=True))

    @staticmethod
    def _run(*, hot_groups: list[Group], users, connections: int, processes: int):
        """(outcome, seconds) of every attempt, and the wall time from release to the last answer.

        Worker processes (forked, each with `connections / processes` threads and one connection
        per thread), as a web server's workers would be: one Python process would serialise the
        ORM work of all threads on its interpreter lock and so hold every row lock far longer.
        """
        attempts = [(hot_groups[i % len(hot_groups)].pk, address.pk) for i, (_u, address) in enumerate(users)]
        context = multiprocessing.get_context("fork")
        work = context.Queue()
        for attempt in attempts:
            work.put(attempt)
        answers = context.Queue()
        ready = context.Semaphore(0)
        go = context.Event()
        per_process = [
            connections // processes + (1 if i < connections % processes else 0) for i in range(processes)
        ]
        per_process = [n for n in per_process if n]
        db_connections.close_all()  # a forked child must not share the parent's socket
        children = [
            context.Process(target=_worker_process, args=(threads, work, answers, ready, go))
            for threads in per_process
        ]
        for child in children:
            child.start()
        for _ in range(sum(per_process)):
            ready.acquire()
        started = time.perf_counter()
        go.set()
        results: list[tuple[str, float]] = []
        finished = 0.0
        for _ in attempts:
            outcome, began, ended = answers.get(timeout=600)
            results.append((outcome, ended - began))
            finished = max(finished, ended)
        for child in children:
            child.join(timeout=60)
        return results, finished - started

    def _report(
        self, *, wall, campaign, hot_groups, results, sku_before, joiners, size, connections, processes
    ) -> None:
        outcomes = Counter(outcome for outcome, _ in results)
        latencies = [seconds * 1000 for _, seconds in results]
        join_latencies = [seconds * 1000 for outcome, seconds in results if outcome == "joined"]
        ids = [g.pk for g in hot_groups]
        counted = Group.objects.filter(pk__in=ids).annotate(
            active=Count("members", filter=Q(members__status__in=GroupMember.ACTIVE))
        )
        oversell = sum(max(0, g.active - g.size) for g in counted)
        counters_ok = all(g.joined == g.active for g in counted)
        orders = Order.objects.filter(group_id__in=ids).count()
        stock_taken = sku_before - Sku.objects.get(pk=campaign.sku_id).stock
        joined = outcomes.pop("joined", 0)
        refusals = ", ".join(f"{code} {n}" for code, n in sorted(outcomes.items())) or "none"
        self.stdout.write(
            f"bench_group_joins: {joiners} joiners, {len(ids)} groups of {size}, {connections} connections "
            f"in {processes} processes, PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} CPUs"
        )
        self.stdout.write(
            f"joins:      {joined} succeeded (seats available: {len(ids) * (size - 1)}); refused: {refusals}"
        )
        attempts_per_s, joins_per_s = len(results) / wall, joined / wall
        self.stdout.write(
            f"throughput: {attempts_per_s:,.0f} attempts/s, {joins_per_s:,.0f} joins/s (wall {wall:.2f} s)"
        )
        self.stdout.write(
            f"latency:    p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms "
            f"(all attempts); joins p50 {percentile(join_latencies, 0.5):.1f} ms, "
            f"p99 {percentile(join_latencies, 0.99):.1f} ms"
        )
        joined_orders = orders - len(ids)  # the leaders' orders were made before the clock started
        stock_ok = stock_taken == joined_orders
        self.stdout.write(
            f"oversell:   {oversell} (members beyond size); "
            f"counters match members: {'yes' if counters_ok else 'NO'}; "
            f"stock taken {stock_taken} = join orders {joined_orders}: {'yes' if stock_ok else 'NO'}"
        )
        if oversell or not counters_ok or not stock_ok:
            raise CommandError("INVARIANT BROKEN: see above")
