"""`manage.py test`: the project's whole check, as CI runs it: lint, format, then pytest.

Arguments after `--` (or any unknown ones) go to pytest, e.g. `manage.py test -- -k orders -x`.
"""

import os
import shutil
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

# The browser tests launch Debian's Chromium through Playwright (never a browser Playwright downloads).
CHROMIUM = "/usr/bin/chromium"


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
                self.stderr.write(f"{name} failed: run `make format` to fix formatting")
                sys.exit(1)
        self.ensure_chromium()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
        cmd = [python, "-m", "pytest", *pytest_args]
        self.stdout.write("$ pytest " + " ".join(pytest_args))
        code = subprocess.run(cmd, cwd=root, env=env).returncode
        if code != 0:
            self.stderr.write(f"pytest failed (exit {code})")
            sys.exit(code)

    def ensure_chromium(self):
        """Install Debian's chromium for the browser tests when it is missing and we may.

        CI runs on a fresh Debian machine as root, reaching Debian's package mirrors but no browser
        download site, so apt is the one way to get a browser. A failure is reported, not raised:
        the browser tests then skip with a reason that names the missing binary.
        """
        if os.path.exists(CHROMIUM):
            return
        can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
        if not can_install:
            self.stdout.write(
                f"$ {CHROMIUM} is missing and apt-get is not usable here: browser tests will skip"
            )
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        started = time.monotonic()
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            self.stdout.write("$ " + " ".join(cmd))
            self.stdout.flush()
            try:
                # A mirror that stops answering must not eat CI's whole time budget.
                code = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, timeout=900).returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
            if code != 0:
                self.stderr.write(f"{' '.join(cmd)} failed ({code}): browser tests will skip")
                return
        self.stdout.write(f"chromium installed in {time.monotonic() - started:.0f}s")
