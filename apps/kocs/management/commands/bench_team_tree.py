"""`manage.py bench_team_tree`: KOC inserts (apply + approve) in a small tree against a large one,
platform-wide inserts per second, and check_team_tree [--fix] on the large tree (README).

Builds two trees in bulk (`tree_build.build_forest`): one of `--small` nodes (the baseline) and one of
`--nodes`. Then, alternately in the same minutes, one insert into each, `--inserts` times: the
latency at each size and their ratio. Then `--threads` threads insert for `--seconds` into different
teams of the large tree while the refresher renumbers it (inserts per second, platform-wide), and
the refresher drains what is left (its pass time). Last, check_team_tree and, after damaging a
share (`--damage`) of the large tree, check_team_tree --fix, each in a subprocess (time, peak
memory); with `--inprocess` (tests) they run here and the peak is tracemalloc's. The trees and the users it
made are deleted at the end unless `--keep`.

Celery tasks the inserts send after commit (tier evaluation, the refresher) are not sent: the
refresher is run here, by the benchmark, as the one worker would run it.
"""

from __future__ import annotations

import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from contextlib import contextmanager

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from apps.accounts.models import User
from apps.core import deferred
from apps.core.progress import Progress
from apps.kocs import services
from apps.kocs.models import Koc, KocParentHistory, KocTreeChange
from apps.kocs.services.tree import refresh_team_trees, renumber_trees, roots_of
from apps.kocs.tree_build import build_forest, random_team_shape

USER_PREFIX = "bench-tree-"
# The child that runs check_team_tree and reports its own peak resident memory (VmHWM: the
# fork-and-exec's pre-exec memory, the parent's, is not counted, as ru_maxrss would count it).
_CHILD = """
import os, sys
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
import django
django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError
code = 0
try:
    call_command(*sys.argv[1:])
except CommandError:
    code = 1
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
print("PEAK_KB", peak)
sys.exit(code)
"""


@contextmanager
def _tasks_not_sent():
    """Drop the Celery sends of the inserts (the benchmark runs the refresher itself)."""
    original = deferred.send
    deferred.send = lambda task, *args, **kwargs: False
    try:
        yield
    finally:
        deferred.send = original


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Command(BaseCommand):
    help = "Benchmark KOC inserts at 1k vs N nodes, inserts/s across teams, and check_team_tree at N."

    def add_arguments(self, parser):
        parser.add_argument("--nodes", type=int, default=1_000_000, help="size of the large tree")
        parser.add_argument("--small", type=int, default=1_000, help="size of the baseline tree")
        parser.add_argument("--inserts", type=int, default=40, help="inserts into each tree, alternately")
        parser.add_argument("--threads", type=int, default=8, help="concurrent inserters (different teams)")
        parser.add_argument("--seconds", type=float, default=20.0, help="length of the throughput run")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--skip-check", action="store_true", help="do not run check_team_tree")
        parser.add_argument(
            "--damage", type=float, default=0.1, help="share of the large tree's rows damaged before --fix"
        )
        parser.add_argument("--inprocess", action="store_true", help="run check_team_tree here (tests)")
        parser.add_argument("--keep", action="store_true", help="keep the trees and users")

    def handle(self, *args, **o):
        if o["nodes"] < o["small"] or o["small"] < 120:
            raise CommandError("--small must be at least 120 and --nodes at least --small")
        self.rng = random.Random(o["seed"])
        self.user_seq = 0
        self.run = secrets.token_hex(4)
        self.out = self.stdout.write
        with _tasks_not_sent():
            small = self._build(o["small"], "small")
            large = self._build(o["nodes"], "large")
            try:
                self._latency(small, large, o["inserts"])
                self._throughput(large, threads=o["threads"], seconds=o["seconds"])
                if not o["skip_check"]:
                    self._check(large, inprocess=o["inprocess"], damage=o["damage"])
            finally:
                if not o["keep"]:
                    self._cleanup([small["root"], large["root"]])

    # --- building -----------------------------------------------------------------------------

    def _build(self, size: int, name: str) -> dict:
        began = time.perf_counter()
        agencies = max(2, min(100, size // 5_000))
        parents, roles = random_team_shape(
            size, rng=self.rng, agencies_per_branch=agencies, leaders_per_agency=10
        )
        with transaction.atomic():
            ids = build_forest(parents, roles, at=timezone.now(), reason="bench_team_tree")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE kocs_koc")
                cursor.execute("ANALYZE kocs_kocparenthistory")
        leaders = [ids[i] for i, r in enumerate(roles) if r == Koc.Role.LEADER]
        individuals = [ids[i] for i, r in enumerate(roles) if r in (Koc.Role.LEADER, Koc.Role.KOC)]
        self.out(f"built the {name} tree: {size:,} nodes in {time.perf_counter() - began:.1f} s")
        return {"root": ids[0], "leaders": leaders, "individuals": individuals, "size": size}

    def _users(self, count: int) -> list[User]:
        first = self.user_seq
        self.user_seq += count
        names = [f"{USER_PREFIX}{self.run}-{i}" for i in range(first, first + count)]
        User.objects.bulk_create([User(username=n, nickname="压测") for n in names])
        return list(User.objects.filter(username__in=names))

    # --- one insert ---------------------------------------------------------------------------

    @staticmethod
    def _insert(user: User, sponsor_code: str) -> float:
        began = time.perf_counter()
        koc = services.koc_apply(user=user, real_name="压测", invite_code=sponsor_code)
        services.koc_approve(koc=koc, by=None)
        return time.perf_counter() - began

    def _codes(self, ids: list[int]) -> dict[int, str]:
        return dict(Koc.objects.filter(pk__in=ids).values_list("pk", "invite_code"))

    # --- latency ------------------------------------------------------------------------------

    def _latency(self, small: dict, large: dict, inserts: int) -> None:
        """Alternately: the small tree as configured (renumbered by the writer when it is at most
        KOCS_TREE_INLINE_NODES), the small tree left to the refresher, and the large tree."""
        kinds = ("small", "small-deferred", "large")
        users = self._users(len(kinds) * (inserts + 1))
        trees = {"small": small, "small-deferred": small, "large": large}
        picks = {k: [self.rng.choice(trees[k]["individuals"]) for _ in range(inserts + 1)] for k in kinds}
        codes = self._codes([i for k in kinds for i in picks[k]])
        times: dict[str, list[float]] = {k: [] for k in kinds}

        def insert(kind: str, i: int) -> float:
            if kind == "small-deferred":
                with override_settings(KOCS_TREE_INLINE_NODES=0):
                    return self._insert(users.pop(), codes[picks[kind][i]])
            return self._insert(users.pop(), codes[picks[kind][i]])

        for kind in kinds:  # one warm-up insert each, not counted
            insert(kind, inserts)
        for i in range(inserts):
            for kind in kinds if i % 2 == 0 else tuple(reversed(kinds)):
                times[kind].append(insert(kind, i))
        # the small tree's deferred inserts (the large tree's wait for the throughput run's refresher)
        renumber_trees(roots_of([small["root"]]).values(), batched=True)
        median = {k: statistics.median(v) for k, v in times.items()}
        self.out("\nKOC insert (koc_apply + koc_approve), median / p90:")
        labels = {
            "small": f"baseline, {small['size']:,}-node tree, as configured",
            "small-deferred": f"baseline, {small['size']:,}-node tree, left to the refresher",
            "large": f"project, {large['size']:,}-node tree",
        }
        for kind in kinds:
            p90 = _percentile(times[kind], 0.9) * 1000
            self.out(f"  {labels[kind]}: {median[kind] * 1000:.1f} ms / {p90:.1f} ms")
        self.out(
            f"  ratio (large / small): {median['large'] / median['small']:.2f}x as configured,"
            f" {median['large'] / median['small-deferred']:.2f}x same path (goal: at most 3x)"
        )

    # --- throughput ---------------------------------------------------------------------------

    def _throughput(self, large: dict, *, threads: int, seconds: float) -> None:
        """Inserts per second across teams, first with the refresher idle, then with it
        renumbering the large tree meanwhile (on the same database: it competes for the CPU)."""
        leaders = list(large["leaders"])
        self.rng.shuffle(leaders)
        teams = [leaders[i::threads] for i in range(threads)]  # disjoint teams per thread
        codes = self._codes(leaders)
        self.out(f"\nplatform-wide inserts, {threads} thread(s) on {threads} disjoint sets of teams:")
        for with_refresher in (False, True):
            total, elapsed, refresh = self._inserters(
                teams, codes, threads=threads, seconds=seconds, with_refresher=with_refresher
            )
            during = (
                f"the refresher renumbering meanwhile ({refresh['passes']} pass(es),"
                f" {refresh['rows']:,} rows)"
                if with_refresher
                else "the refresher idle"
            )
            self.out(
                f"  {during}: {total} inserts in {elapsed:.1f} s, {total / elapsed:.1f} inserts/s"
                " (goal: at least 50/s)"
            )
        pending = KocTreeChange.objects.count()
        began = time.perf_counter()
        stats = refresh_team_trees()
        self.out(
            f"  the refresher then renumbered {stats['trees']} tree(s) for {pending} pending change(s):"
            f" {stats['rows']:,} rows in {time.perf_counter() - began:.1f} s"
        )

    def _inserters(self, teams, codes, *, threads: int, seconds: float, with_refresher: bool):
        per_thread = max(50, int(seconds * 200 / max(1, threads)))
        users = [self._users(per_thread) for _ in range(threads)]
        done = [0] * threads
        errors: list[BaseException] = []
        stop = threading.Event()
        refresh = {"passes": 0, "rows": 0}

        def inserter(k: int) -> None:
            rng = random.Random(k)
            try:
                while not stop.is_set() and users[k]:
                    self._insert(users[k].pop(), codes[rng.choice(teams[k])])
                    done[k] += 1
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        def refresher() -> None:
            try:
                while not stop.is_set():
                    stats = refresh_team_trees(passes=1)
                    refresh["passes"] += 1 if stats["trees"] else 0
                    refresh["rows"] += stats["rows"]
                    if not stats["trees"]:
                        time.sleep(0.2)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        began = time.perf_counter()
        if connection.vendor == "postgresql" and threads > 1:
            workers = [threading.Thread(target=inserter, args=(k,)) for k in range(threads)]
            renumbering = threading.Thread(target=refresher) if with_refresher else None
            for w in workers:
                w.start()
            if renumbering:
                renumbering.start()
            time.sleep(seconds)
            stop.set()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - began
            if renumbering:
                renumbering.join()  # its pass in progress ends first
        else:  # SQLite: one writer at a time anyway
            deadline = began + seconds
            k = 0
            while time.perf_counter() < deadline and users[k % threads]:
                self._insert(users[k % threads].pop(), codes[self.rng.choice(teams[k % threads])])
                done[k % threads] += 1
                k += 1
            elapsed = time.perf_counter() - began
        if errors:
            raise CommandError(f"inserter failed: {errors[0]!r}")
        return sum(done), elapsed, refresh

    # --- check_team_tree ----------------------------------------------------------------------

    def _run_check(self, *args: str, inprocess: bool) -> tuple[float, float, bool]:
        """(seconds, peak MB, succeeded) of check_team_tree `args`."""
        began = time.perf_counter()
        if inprocess:
            tracemalloc.start()
            try:
                call_command("check_team_tree", *args, stdout=_Null(), stderr=_Null())
                ok = True
            except CommandError:
                ok = False
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            return time.perf_counter() - began, peak, ok
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, "check_team_tree", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - began
        if proc.returncode not in (0, 1) or "PEAK_KB" not in proc.stdout:
            raise CommandError(f"check_team_tree {' '.join(args)} crashed:\n{proc.stderr[-2000:]}")
        peak = int(proc.stdout.rsplit("PEAK_KB", 1)[1].split()[0]) / 1024
        return seconds, peak, proc.returncode == 0

    def _check(self, large: dict, *, inprocess: bool, damage: float) -> None:
        nodes = Koc.objects.count()
        seconds, peak, ok = self._run_check(inprocess=inprocess)
        if not ok:
            raise CommandError("check_team_tree found problems in the benchmark's trees")
        where = "in process (tracemalloc)" if inprocess else "peak resident memory of the process"
        self.out(f"\ncheck_team_tree on {nodes:,} nodes: {seconds:.1f} s, {peak:.0f} MB ({where})")
        self.out("  goal for check and --fix: under 120 s and 500 MB")
        # Damage: shift lft/rght of the last `damage` share of the large tree's rows by 2 (what a
        # lost update of django-mptt's shifting leaves: everything right of a point is off).
        tree_id = Koc.objects.get(pk=large["root"]).tree_id
        edge = Koc.objects.get(pk=large["root"]).rght
        cut = int(edge * (1 - damage))
        with transaction.atomic():
            damaged = Koc.objects.filter(tree_id=tree_id, lft__gte=cut).update(
                lft=F("lft") + 2, rght=F("rght") + 2
            )
            damaged += Koc.objects.filter(tree_id=tree_id, lft__lt=cut, rght__gte=cut).update(
                rght=F("rght") + 2
            )
        seconds, peak, ok = self._run_check("--fix", inprocess=inprocess)
        if not ok:
            raise CommandError("check_team_tree --fix did not repair the benchmark's tree")
        self.out(
            f"check_team_tree --fix after damaging {damaged:,} rows ({damage:.0%} of the tree):"
            f" {seconds:.1f} s, {peak:.0f} MB"
        )

    # --- cleanup ------------------------------------------------------------------------------

    def _cleanup(self, roots: list[int]) -> None:
        began = time.perf_counter()
        with transaction.atomic():
            ids = set()
            for root in roots:
                with connection.cursor() as cursor:
                    cursor.execute(
                        """
                        WITH RECURSIVE sub(id) AS (SELECT id FROM kocs_koc WHERE id = %s UNION ALL
                            SELECT k.id FROM kocs_koc k JOIN sub ON k.parent_id = sub.id)
                        SELECT id FROM sub
                        """,
                        [root],
                    )
                    ids.update(row[0] for row in cursor.fetchall())
            ordered = sorted(ids)
            bar = Progress(len(ordered), label="deleting the benchmark's trees", stream=self.stderr)
            for start in range(0, len(ordered), 20_000):
                part = ordered[start : start + 20_000]
                KocParentHistory.objects.filter(koc_id__in=part).delete()
                KocTreeChange.objects.filter(koc_id__in=part).delete()
                bar.advance(len(part))
            # The foreign keys are checked at commit (deferred): the whole set goes at once.
            for start in range(0, len(ordered), 20_000):
                Koc.objects.filter(pk__in=ordered[start : start + 20_000])._raw_delete(connection.alias)
            User.objects.filter(username__startswith=USER_PREFIX, koc__isnull=True).delete()
            bar.close()
        self.out(f"\ndeleted the benchmark's {len(ordered):,} nodes in {time.perf_counter() - began:.1f} s")


class _Null:
    def write(self, *_args, **_kwargs):
        pass

    def flush(self):
        pass
