"""`manage.py check_team_tree [--fix]`: verify the team tree's nested set; rebuild it with --fix."""

from django.core.management.base import BaseCommand, CommandError

from apps.kocs import selectors, services


class Command(BaseCommand):
    help = "Verify the team tree (nested set, levels, parent history); --fix rebuilds it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="rebuild lft/rght/level/tree_id from the parent pointers"
        )

    def handle(self, *args, fix: bool = False, **options):
        problems = selectors.team_tree_problems()
        for problem in problems:
            self.stdout.write(f"PROBLEM {problem}")
        if not problems:
            self.stdout.write(self.style.SUCCESS("team tree is valid"))
            return
        if not fix:
            raise CommandError(f"team tree is invalid: {len(problems)} problem(s); run with --fix to rebuild")
        services.team_tree_rebuild()
        remaining = selectors.team_tree_problems()
        for problem in remaining:
            self.stdout.write(f"STILL {problem}")
        if remaining:
            raise CommandError(f"rebuilt, but {len(remaining)} problem(s) remain (see above)")
        self.stdout.write(self.style.SUCCESS(f"rebuilt the team tree: {len(problems)} problem(s) fixed"))
