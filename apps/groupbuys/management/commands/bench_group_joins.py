"""Benchmark (not a test): N concurrent joiners against G hot groups of one campaign, on the
configured PostgreSQL, against a pgbench baseline doing the same writes on the same tables.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/gbbench DEBUG=0
    python manage.py migrate
    python manage.py bench_group_joins --joiners 2000 --groups 20 --size 100 --connections 30 --rounds 2

The project: it creates its own brand, product, campaign, leaders (each opens one group through
`group_open`) and joiners, then releases all joiners at once on `--connections` threads spread over
`--processes` forked worker processes (each thread with its own database connection, opened before
the clock starts and warmed by six joins in a campaign of its own, as a running app server's are:
persistent, their hot statements prepared) and times each `group_join` call through
the real service: seat and held unit, per-user limit, order, member. All groups share one SKU, as
real hot campaigns do.

The baseline: the same set-up (fresh campaign, groups and joiners), then `pgbench` with as many
clients runs one transaction per joiner that makes the very writes a join makes, in the same order,
on the same tables: the order and its line (copied from the leader's, buyer and number changed), the
member, the seat (the same conditional UPDATE), the usage row (the same upsert), and COMMIT, or
ROLLBACK when the seat was refused. No Python, no reads beyond the copied rows: what PostgreSQL
alone costs for a join. Project and baseline alternate `--rounds` times in one run; each prints
joins/s and p50/p99 over all attempts, then the medians and their ratio.

Each project run checks: no oversell (active members beyond a group's size), every `joined` counter
equal to its members, and the stock conserved (units on the shelf + held by the groups + in the
join orders the same before and after); the command exits with an error if any fails.
`--profile N` also times N sequential joins in this process (no contention), splitting each into
Python and database time, with the CPU of this process and of its PostgreSQL backend
(`--profile-top K` prints cProfile's top K functions by CPU time, waits left out; `--profile-sort
tottime` ranks them by their own time). Each round also prints the CPU the whole machine and
PostgreSQL spent per attempt, for the project and for the baseline (PostgreSQL on this machine:
/proc), which shows where the difference between them goes. Celery messages the services send
after commit (the groups' expiries) go to an in-memory broker and are dropped: the benchmark
leaves no work for a real worker.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

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
from apps.groupbuys.services.groups import _SEAT_WITH_UNIT_SQL, _TAKE_UNITS_SQL
from apps.shop.models import Brand, Category, Order, OrderItem, Product, Sku

WARM_UP_JOINS = 6  # per connection, before the clock: more than psycopg's prepare threshold (5)


def _worker_process(shares: list[tuple[list, list]], answers, ready, go) -> None:
    """One forked worker: a thread per share of the attempts, each with its own connection opened
    before the start, making its attempts one after another (as pgbench's clients do: no shared
    queue to contend on). The joiners (user and address) are read before the clock starts, as the
    baseline reads none: what is timed is the join. Before the clock each thread also makes its
    warm-up joins (a campaign of their own), as a running server's workers are warm: persistent
    connections whose hot statements are prepared, caches of compiled statements filled. Each
    thread answers once, at its end: its attempts, and the errors of its warm-up if any."""
    wanted = [address_id for warm, share in shares for _group_id, address_id in warm + share]
    addresses = {a.pk: a for a in Address.objects.select_related("user").filter(pk__in=wanted)}
    connection.close()

    def join(group_id: int, address_id: int) -> str:
        address = addresses[address_id]
        try:
            services.group_join(group=Group(pk=group_id), buyer=address.user, quantity=1, address=address)
            return "joined"
        except ApplicationError as exc:
            return exc.code
        except Exception as exc:  # reported, never hidden
            return f"error:{type(exc).__name__}: {exc}"[:200]

    def run(warm: list[tuple[int, int]], share: list[tuple[int, int]]) -> None:
        done, warm_errors = [], []
        try:
            connection.ensure_connection()  # opened before the clock starts
            warm_errors = [outcome for outcome in (join(*attempt) for attempt in warm) if outcome != "joined"]
            ready.release()
            go.wait()
            for group_id, address_id in share:
                began = time.perf_counter()
                outcome = join(group_id, address_id)
                done.append((outcome, began, time.perf_counter()))
        finally:
            answers.put((done, warm_errors))
            connection.close()

    pool = [threading.Thread(target=run, args=share) for share in shares]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def _backend_pid() -> int:
    """The process id of this connection's PostgreSQL backend."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _proc_stat(pid) -> list[str]:
    """The fields of /proc/<pid>/stat after the command's name: [0] state, [1] parent's pid,
    [11] utime, [12] stime, [13] cutime, [14] cstime (clock ticks)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


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
            "--processes",
            type=int,
            default=os.cpu_count() or 1,
            help="worker processes the threads are spread over (default: one per CPU)",
        )
        parser.add_argument(
            "--rounds", type=int, default=1, help="project and baseline runs, alternately (medians compared)"
        )
        parser.add_argument(
            "--no-baseline", action="store_true", help="the project only (no pgbench run, no ratio)"
        )
        parser.add_argument(
            "--profile",
            type=int,
            default=0,
            help="also time N sequential joins in this process (no contention): Python vs database per join",
        )
        parser.add_argument(
            "--profile-top",
            type=int,
            default=0,
            help="with --profile: print cProfile's top N functions (CPU time)",
        )
        parser.add_argument(
            "--profile-sort",
            default="cumulative",
            choices=["cumulative", "tottime"],
            help="with --profile-top: by time including callees (cumulative) or in the function itself",
        )

    def handle(
        self,
        *args,
        joiners: int,
        groups: int,
        size: int,
        connections: int,
        processes: int,
        rounds: int = 1,
        no_baseline: bool = False,
        profile: int = 0,
        profile_top: int = 0,
        profile_sort: str = "cumulative",
        **options,
    ):
        if connection.vendor != "postgresql":
            raise CommandError("bench_group_joins measures PostgreSQL: set DATABASE_URL=postgres://...")
        if min(joiners, groups, connections, processes, rounds) < 1 or not 2 <= size <= 100:
            raise CommandError(
                "--joiners, --groups, --connections, --processes, --rounds must be positive; --size 2 to 100"
            )
        processes = min(processes, connections)
        pgbench = None if no_baseline else self._pgbench()
        if settings.DEBUG:
            self.stderr.write("note: DEBUG is on (every query is logged in memory); run with DEBUG=0")
        self._drop_celery_messages()
        run = uuid.uuid4().hex[:8]
        self.stdout.write(
            f"bench_group_joins: {joiners} joiners, {groups} groups of {size} (one campaign, one SKU), "
            f"{connections} connections ({processes} processes for the project), "
            f"PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} CPUs"
        )
        if profile:
            self._profile(run=run, joins=profile, size=size, top=profile_top, sort=profile_sort)
        project_runs, baseline_runs = [], []
        for round_no in range(1, rounds + 1):
            project_runs.append(
                self._project_round(
                    run=f"{run}-{round_no}",
                    joiners=joiners,
                    groups=groups,
                    size=size,
                    connections=connections,
                    processes=processes,
                )
            )
            self._print_run(f"project  #{round_no}", project_runs[-1])
            if pgbench:
                baseline_runs.append(
                    self._baseline_round(
                        pgbench=pgbench,
                        run=f"{run}-{round_no}",
                        joiners=joiners,
                        groups=groups,
                        size=size,
                        connections=connections,
                    )
                )
                self._print_run(f"baseline #{round_no}", baseline_runs[-1])
        self._summary(project_runs, baseline_runs)

    @staticmethod
    def _pgbench() -> str:
        found = shutil.which("pgbench") or next(
            (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
        )
        if not found:
            raise CommandError(
                "pgbench not found (it comes with PostgreSQL): install it or pass --no-baseline"
            )
        return found

    def _project_round(self, *, run, joiners, groups, size, connections, processes) -> dict:
        campaign, hot_groups = self._setup(run=run, groups=groups, size=size, stock=groups * size + joiners)
        users = self._joiners(run=run, count=joiners)
        warm_joins = WARM_UP_JOINS * connections
        warm_groups = math.ceil(warm_joins / (size - 1))
        _warm_campaign, warm = self._setup(
            run=f"{run}-w", groups=warm_groups, size=size, stock=warm_groups * size
        )
        warm_up = (warm, self._joiners(run=f"{run}-w", count=warm_joins))
        stock_before = self._stock_accounted(campaign, hot_groups)
        cpu_before, machine_before = self._children_cpu(), self._machine_cpu()
        results, wall = self._run(
            hot_groups=hot_groups, users=users, connections=connections, processes=processes, warm_up=warm_up
        )
        cpu, machine = self._children_cpu() - cpu_before, self._machine_cpu_since(machine_before)
        self._check(campaign=campaign, hot_groups=hot_groups, stock_before=stock_before)
        outcomes = Counter(outcome for outcome, _ in results)
        latencies = [seconds * 1000 for _, seconds in results]
        joined = outcomes.pop("joined", 0)
        return {
            "attempts": len(results),
            "joins": joined,
            "wall": wall,
            "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99),
            "refused": outcomes,
            "cpu_ms": cpu / len(results) * 1000,
            "machine": machine and {key: seconds / len(results) * 1000 for key, seconds in machine.items()},
        }

    @staticmethod
    def _stock_accounted(campaign: Campaign, hot_groups: list[Group]) -> int:
        """Units on the shelf + held by the groups + in the groups' orders: a join only moves units
        between these, so the sum never changes."""
        ids = [g.pk for g in hot_groups]
        shelf = Sku.objects.get(pk=campaign.sku_id).stock
        held = sum(Group.objects.filter(pk__in=ids).values_list("stock_held", flat=True))
        ordered = sum(
            OrderItem.objects.filter(order__group_id__in=ids, sku_id=campaign.sku_id).values_list(
                "quantity", flat=True
            )
        )
        return shelf + held + ordered

    def _check(self, *, campaign, hot_groups, stock_before) -> None:
        ids = [g.pk for g in hot_groups]
        counted = Group.objects.filter(pk__in=ids).annotate(
            active=Count("members", filter=Q(members__status__in=GroupMember.ACTIVE))
        )
        oversell = sum(max(0, g.active - g.size) for g in counted)
        counters_ok = all(g.joined == g.active for g in counted)
        stock_after = self._stock_accounted(campaign, hot_groups)
        stock_ok = stock_after == stock_before
        self.stdout.write(
            f"  checks:   oversell {oversell} (members beyond size); "
            f"counters match members: {'yes' if counters_ok else 'NO'}; "
            f"stock conserved (shelf + held + ordered {stock_before} -> {stock_after}): "
            f"{'yes' if stock_ok else 'NO'}"
        )
        if oversell or not counters_ok or not stock_ok:
            raise CommandError("INVARIANT BROKEN: see above")

    def _print_run(self, label: str, result: dict) -> None:
        refusals = ", ".join(f"{code} {n}" for code, n in sorted(result["refused"].items())) or "none"
        self.stdout.write(
            f"{label}: {result['joins']} joined of {result['attempts']} attempts (refused: {refusals}); "
            f"{result['joins'] / result['wall']:,.0f} joins/s (wall {result['wall']:.2f} s); "
            f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms (all attempts)"
            + (f"; workers' CPU {result['cpu_ms']:.1f} ms per attempt" if "cpu_ms" in result else "")
        )
        if result.get("machine"):
            machine = result["machine"]
            self.stdout.write(
                f"  CPU:      the machine {machine['busy']:.2f} ms per attempt, of which PostgreSQL "
                f"{machine['postgres']:.2f} ms"
            )

    def _summary(self, project_runs: list[dict], baseline_runs: list[dict]) -> None:
        def median(runs, key):
            return statistics.median(key(r) for r in runs)

        project = median(project_runs, lambda r: r["joins"] / r["wall"])
        p99 = median(project_runs, lambda r: r["p99"])
        line = f"project:  {project:,.0f} joins/s, p99 {p99:.1f} ms (median of {len(project_runs)})"
        self.stdout.write(line)
        if baseline_runs:
            baseline = median(baseline_runs, lambda r: r["joins"] / r["wall"])
            b99 = median(baseline_runs, lambda r: r["p99"])
            self.stdout.write(
                f"baseline: {baseline:,.0f} joins/s, p99 {b99:.1f} ms (pgbench, same writes, same tables)"
            )
            self.stdout.write(f"ratio:    {project / baseline:.2f} (project / baseline joins/s)")

    def _baseline_round(self, *, pgbench, run, joiners, groups, size, connections) -> dict:
        """pgbench, `connections` clients, one transaction per joiner making a join's writes."""
        campaign, hot_groups = self._setup(run=f"{run}-b", groups=groups, size=size, stock=groups * size)
        per_client = math.ceil(joiners / connections)
        users = self._joiners(run=f"{run}-b", count=per_client * connections)
        user_ids = [u.pk for u, _a in users]
        if user_ids != list(range(user_ids[0], user_ids[0] + len(user_ids))):
            raise CommandError("the baseline's joiners did not get consecutive ids; run it again")
        sequence = f"bench_join_{run.replace('-', '_')}"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SEQUENCE {sequence} MINVALUE 0 START 0")
        script = self._baseline_script(
            campaign=campaign, hot_groups=hot_groups, first_user=user_ids[0], sequence=sequence, run=run
        )
        db = connection.settings_dict
        env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "join.sql").write_text(script)
            command = [pgbench, "-n", "-f", str(Path(tmp, "join.sql")), "-c", str(connections)]
            command += ["-j", str(min(connections, os.cpu_count() or 1)), "-t", str(per_client)]
            command += ["-l", "--log-prefix", str(Path(tmp, "log"))]
            command += ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432)]
            command += ["-U", db.get("USER") or "postgres", db["NAME"]]
            machine_before = self._machine_cpu()
            done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, check=False)
            machine = self._machine_cpu_since(machine_before)
            if done.returncode != 0:
                raise CommandError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
            latencies = []
            for log in Path(tmp).glob("log*"):
                for line in log.read_text().splitlines():
                    latencies.append(int(line.split()[2]) / 1000)  # microseconds -> ms
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SEQUENCE {sequence}")
        tps = next(
            float(line.split("=")[1].split()[0])
            for line in done.stdout.splitlines()
            if line.startswith("tps =")
        )
        attempts = per_client * connections
        ids = [g.pk for g in hot_groups]
        joined = GroupMember.objects.filter(group_id__in=ids, is_leader=False).count()
        oversell = sum(
            max(0, g.active - g.size)
            for g in Group.objects.filter(pk__in=ids).annotate(
                active=Count("members", filter=Q(members__status__in=GroupMember.ACTIVE))
            )
        )
        if oversell:
            raise CommandError(f"the baseline oversold {oversell} seats: its script is wrong")
        return {
            "attempts": attempts,
            "joins": joined,
            "wall": attempts / tps,
            "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99),
            "refused": Counter({"seat refused (rolled back)": attempts - joined})
            if attempts > joined
            else {},
            "machine": machine and {key: seconds / attempts * 1000 for key, seconds in machine.items()},
        }

    @staticmethod
    def _baseline_script(*, campaign, hot_groups, first_user: int, sequence: str, run: str) -> str:
        """One join's writes as a pgbench transaction, in the order the service makes them. The
        rows are copies of the leader's order, order line and member (buyer, number, group, times
        changed), so they are as wide as the project's."""
        leader_member = GroupMember.objects.filter(group=hot_groups[0], is_leader=True).get()
        item = OrderItem.objects.filter(order_id=leader_member.order_id).get()
        group_ids = ", ".join(str(g.pk) for g in hot_groups)
        n = "s.n"

        def copy(
            model, template_id: int, overrides: dict[str, str], source: str, extra_from: str = ""
        ) -> str:
            table = model._meta.db_table
            columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
            values = [overrides.get(c, f"{source}.{c}") for c in columns]
            return (
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "  # noqa: S608
                f"FROM {table} {source}{extra_from} WHERE {source}.id = {template_id}"
            )

        order_sql = copy(
            Order,
            leader_member.order_id,
            {
                "buyer_id": f"{first_user} + {n}",
                "no": f"'{run[:12]}-' || {n}",
                "group_id": f"(ARRAY[{group_ids}])[({n} % {len(hot_groups)}) + 1]",
                "pay_deadline": "now() + interval '30 minutes'",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "o",
            f", (SELECT nextval('{sequence}') AS n) s",
        )
        item_sql = copy(OrderItem, item.pk, {"order_id": ":oid"}, "i")
        member_sql = copy(
            GroupMember,
            leader_member.pk,
            {
                "group_id": ":gid",
                "user_id": ":uid",
                "order_id": ":oid",
                "is_leader": "false",
                "joined_at": "now()",
            },
            "m",
        )
        forming = Group.Status.FORMING.value
        seat_sql = _SEAT_WITH_UNIT_SQL.replace("RETURNING joined, stock_held", "RETURNING 1") % (
            ":gid",
            f"'{forming}'",
            "now()",
        )
        usage_sql = _TAKE_UNITS_SQL % (campaign.pk, ":uid", 1, campaign.per_user_limit)
        return "\n".join(
            [
                "BEGIN;",
                f"{order_sql} RETURNING id AS oid, buyer_id AS uid, group_id AS gid \\gset",
                f"{item_sql};",
                f"{member_sql};",
                f"WITH seat AS ({seat_sql}) SELECT count(*) AS took FROM seat \\gset",  # noqa: S608
                f"{usage_sql};",
                "\\if :took",
                "COMMIT;",
                "\\else",
                "ROLLBACK;",
                "\\endif",
                "",
            ]
        )

    def _profile(self, *, run: str, joins: int, size: int, top: int, sort: str = "cumulative") -> None:
        """Sequential joins in this process: wall time per join split into time spent waiting for
        PostgreSQL (inside cursor.execute) and the rest, which is Python (ORM, services)."""
        import cProfile
        import io
        import pstats

        groups = math.ceil(joins / (size - 1))
        _campaign, targets = self._setup(
            run=f"{run}-p", groups=groups + 1, size=size, stock=(groups + 1) * size + joins
        )
        users = self._joiners(run=f"{run}-p", count=joins)
        attempts = [(targets[i % groups], user, address) for i, (user, address) in enumerate(users)]
        # One join (in a group of its own) to warm caches before timing.
        warm_user, warm_address = self._users(run=f"{run}-pw", count=1)[0]
        services.group_join(group=Group(pk=targets[-1].pk), buyer=warm_user, quantity=1, address=warm_address)
        database = [0.0, 0]

        def timed(execute, sql, params, many, context):
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                database[0] += time.perf_counter() - began
                database[1] += 1

        profiler = cProfile.Profile(time.process_time) if top else None
        backend = self._backend_cpu()
        with connection.execute_wrapper(timed):
            began, cpu_began = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            for group, user, address in attempts:
                services.group_join(group=Group(pk=group.pk), buyer=user, quantity=1, address=address)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        backend_cpu = self._backend_cpu()
        per_join = wall / joins * 1000
        db_per_join = database[0] / joins * 1000
        server = (
            f", of its PostgreSQL backend {(backend_cpu - backend) / joins * 1000:.2f} ms"
            if backend is not None and backend_cpu is not None
            else ""
        )
        self.stdout.write(
            f"profile:    {joins} sequential joins: {per_join:.2f} ms per join = "
            f"Python {per_join - db_per_join:.2f} ms + database {db_per_join:.2f} ms "
            f"({database[1] / joins:.1f} statements); CPU of this process {cpu / joins * 1000:.2f} ms{server}"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
            self.stdout.write(out.getvalue())

    @staticmethod
    def _backend_cpu() -> float | None:
        """CPU seconds of this connection's PostgreSQL backend, when it runs on this machine
        (/proc); None otherwise."""
        try:
            fields = _proc_stat(_backend_pid())
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

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
    def _run(*, hot_groups: list[Group], users, connections: int, processes: int, warm_up):
        """(outcome, seconds) of every attempt, and the wall time from release to the last answer.

        Worker processes (forked, each with `connections / processes` threads and one connection
        per thread), as a web server's workers would be: one Python process would serialise the
        ORM work of all threads on its interpreter lock and so hold every row lock far longer.
        `warm_up`: (warm-up groups, their joiners), WARM_UP_JOINS for each connection.
        """
        attempts = [(hot_groups[i % len(hot_groups)].pk, address.pk) for i, (_u, address) in enumerate(users)]
        warm_groups, warm_users = warm_up
        warm = [
            (warm_groups[i // (warm_groups[0].size - 1)].pk, a.pk) for i, (_u, a) in enumerate(warm_users)
        ]
        context = multiprocessing.get_context("fork")
        answers = context.Queue()
        ready = context.Semaphore(0)
        go = context.Event()
        # Attempt i goes to connection i % connections (every group is hit by every connection).
        shares = [(warm[i::connections], attempts[i::connections]) for i in range(connections)]
        per_process = [shares[i::processes] for i in range(processes)]
        per_process = [threads for threads in per_process if threads]
        db_connections.close_all()  # a forked child must not share the parent's socket
        children = [
            context.Process(target=_worker_process, args=(threads, answers, ready, go))
            for threads in per_process
        ]
        for child in children:
            child.start()
        for _ in range(sum(len(threads) for threads in per_process)):
            ready.acquire()
        started = time.perf_counter()
        go.set()
        results: list[tuple[str, float]] = []
        finished = 0.0
        warm_errors = Counter()
        for _ in range(sum(len(threads) for threads in per_process)):
            done, errors = answers.get(timeout=600)
            warm_errors.update(errors)
            for outcome, began, ended in done:
                results.append((outcome, ended - began))
                finished = max(finished, ended)
        for child in children:
            child.join(timeout=60)
        if warm_errors:
            raise CommandError(f"warm-up joins refused: {dict(warm_errors)}")
        if len(results) != len(attempts):
            raise CommandError(f"{len(attempts) - len(results)} attempts went unanswered")
        return results, finished - started

    def _machine_cpu(self) -> dict | None:
        """CPU seconds so far of the whole machine (busy, from /proc/stat) and of PostgreSQL (the
        postmaster with every process it started, those that exited included), when PostgreSQL
        runs on this machine; None otherwise. Shows where a run's CPU went, for both sides."""
        ticks = os.sysconf("SC_CLK_TCK")
        try:
            if not hasattr(self, "_postmaster"):
                self._postmaster = _proc_stat(_backend_pid())[1]
            postmaster = _proc_stat(self._postmaster)
            postgres = sum(int(value) for value in postmaster[11:15])  # own and reaped children's
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    try:
                        stat = _proc_stat(entry.name)
                    except OSError:
                        continue  # exited meanwhile
                    if stat[1] == self._postmaster:
                        postgres += int(stat[11]) + int(stat[12])
            with open("/proc/stat") as f:
                user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
        except OSError:
            return None
        return {"busy": (user + nice + system + irq + softirq) / ticks, "postgres": postgres / ticks}

    def _machine_cpu_since(self, before: dict | None) -> dict | None:
        after = self._machine_cpu()
        if before is None or after is None:
            return None
        return {key: after[key] - before[key] for key in after}

    @staticmethod
    def _children_cpu() -> float:
        """CPU seconds (user + system) of the worker processes reaped so far."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
