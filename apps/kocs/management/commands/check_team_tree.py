"""`manage.py check_team_tree [--fix]`: verify the team tree's nested set; rebuild it with --fix."""

import time

from django.core.management.base import BaseCommand, CommandError

from apps.core.progress import Progress
from apps.kocs import selectors, services
from apps.kocs.models import Koc


class Command(BaseCommand):
    help = "Verify the team tree (nested set, levels, parent history); --fix rebuilds it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="rebuild lft/rght/level/tree_id from the parent pointers"
        )

    def handle(self, *args, fix: bool = False, **options):
        # The check reads the whole tree in one pass, so the bar moves by phase (check, rebuild,
        # check again), each phase counted in nodes: on a large tree the terminal shows how far it got.
        nodes = Koc.objects.count()
        began = time.perf_counter()
        bar = Progress(
            nodes * (3 if fix else 1), label=f"check_team_tree ({nodes} nodes)", stream=self.stderr
        )
        problems = selectors.team_tree_problems()
        bar.advance(nodes)
        for problem in problems:
            self.stdout.write(f"PROBLEM {problem}")
        if not problems:
            bar.close()
            self.stdout.write(self.style.SUCCESS(f"team tree is valid ({time.perf_counter() - began:.1f} s)"))
            return
        if not fix:
            bar.close()
            raise CommandError(f"team tree is invalid: {len(problems)} problem(s); run with --fix to rebuild")
        services.team_tree_rebuild()
        bar.advance(nodes)
        remaining = selectors.team_tree_problems()
        bar.advance(nodes)
        bar.close()
        for problem in remaining:
            self.stdout.write(f"STILL {problem}")
        if remaining:
            raise CommandError(f"rebuilt, but {len(remaining)} problem(s) remain (see above)")
        self.stdout.write(self.style.SUCCESS(f"rebuilt the team tree: {len(problems)} problem(s) fixed"))
