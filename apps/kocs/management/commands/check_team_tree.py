"""`manage.py check_team_tree [--fix]`: verify the team tree; --fix renumbers the damaged trees."""

import time

from django.core.management.base import BaseCommand, CommandError

from apps.core.progress import Progress
from apps.kocs.services import tree as tree_services
from apps.kocs.tree_check import team_tree_report


class Command(BaseCommand):
    help = (
        "Verify the team tree (nested set against the parent pointers, roots, parent history); "
        "--fix renumbers the damaged trees from the parent pointers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix",
            action="store_true",
            help="renumber lft/rght/depth/tree_id of damaged trees from the parent pointers",
        )

    def handle(self, *args, fix: bool = False, **options):
        # Phases (check, renumber, check again), each counted in nodes: the bar moves by phase.
        began = time.perf_counter()
        report = team_tree_report()
        nodes = report.nodes
        bar = Progress(
            nodes * (3 if fix else 1), label=f"check_team_tree ({nodes} nodes)", stream=self.stderr
        )
        bar.advance(nodes)
        problems = report.all_problems
        found = len(report.problems) + report.unlisted
        for problem in problems:
            self.stdout.write(f"PROBLEM {problem}")
        if report.pending_changes:
            self.stdout.write(
                f"pending: {report.pending_changes} change(s) in {report.pending_trees} tree(s)"
                " await the refresher"
            )
        if not problems:
            bar.close()
            self.stdout.write(self.style.SUCCESS(f"team tree is valid ({time.perf_counter() - began:.1f} s)"))
            return
        if not fix:
            bar.close()
            raise CommandError(
                f"team tree is invalid: {len(problems)} problem(s); run with --fix to renumber"
            )
        roots = tree_services.distinct_root_tree_ids()
        damaged = {root for root, _tree in report.damaged_roots}
        stats = tree_services.renumber_trees([r for r in roots if r[0] in damaged], batched=True)
        bar.advance(nodes)
        remaining = team_tree_report().all_problems
        bar.advance(nodes)
        bar.close()
        for problem in remaining:
            self.stdout.write(f"STILL {problem}")
        if remaining:
            raise CommandError(f"renumbered, but {len(remaining)} problem(s) remain (see above)")
        self.stdout.write(
            self.style.SUCCESS(
                f"renumbered {stats['trees']} tree(s), {stats['rows']} row(s):"
                f" {found} problem(s) fixed"
                f" ({time.perf_counter() - began:.1f} s)"
            )
        )
