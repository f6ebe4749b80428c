"""`manage.py test`: the project's whole check, as CI runs it: lint, format, then pytest.

Arguments after `--` (or any unknown ones) go to pytest, e.g. `manage.py test -- -k orders -x`.
"""

import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run ruff (lint and format check) and the pytest suite; extra arguments go to pytest."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("pytest_args", nargs="*")
        return parser

    def run_from_argv(self, argv):
        # Everything after `test` that is not ours belongs to pytest, dashes and all.
        self._pytest_args = [a for a in argv[2:] if a != "--"]
        self.execute(
            pytest_args=self._pytest_args,
            verbosity=1,
            settings=None,
            pythonpath=None,
            traceback=False,
            no_color=False,
            force_color=False,
            skip_checks=True,
        )

    def handle(self, *args, pytest_args=(), **options):
        root = settings.BASE_DIR
        python = sys.executable
        steps = [
            ("ruff check", [python, "-m", "ruff", "check", "."]),
            ("ruff format --check", [python, "-m", "ruff", "format", "--check", "."]),
        ]
        for name, cmd in steps:
            self.stdout.write(f"$ {name}")
            if subprocess.run(cmd, cwd=root).returncode != 0:
                raise CommandError(f"{name} failed")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
        cmd = [python, "-m", "pytest", *pytest_args]
        self.stdout.write("$ pytest " + " ".join(pytest_args))
        code = subprocess.run(cmd, cwd=root, env=env).returncode
        if code != 0:
            raise CommandError(f"pytest failed (exit {code})", returncode=code)
