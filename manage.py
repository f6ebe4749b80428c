#!/usr/bin/env python3
"""Django's command-line utility, plus a bootstrap so a fresh machine needs nothing but Python.

`python3 manage.py run` and `python3 manage.py test` work from a fresh clone: when this file is run by
a Python outside the project's virtual environment, it creates `.venv`, installs the project with its
`dev` extra (again whenever pyproject.toml changes), and re-executes itself inside the environment.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _install_stamp() -> Path:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return VENV / f".installed-{digest}"


def _bootstrap() -> None:
    if os.environ.get("KOC_NO_BOOTSTRAP"):
        return
    if not VENV_PYTHON.exists():
        print("[bootstrap] creating .venv", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp = _install_stamp()
    if not stamp.exists():
        print("[bootstrap] installing the project and its dev tools into .venv", flush=True)
        pip = [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
        for old in VENV.glob(".installed-*"):
            old.unlink()
        stamp.touch()
        # The translations are compiled at install (their .mo files are not committed).
        subprocess.run([str(VENV_PYTHON), str(ROOT / "manage.py"), "compilecatalogues"], check=True, cwd=ROOT)
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "manage.py"), *sys.argv[1:]])


# The README's two commands choose their own settings; everything else (migrate, shell, the periodic
# commands on a server) defaults to production, which refuses to start without its secrets. A forgotten
# DJANGO_SETTINGS_MODULE must never mean DEBUG, the sandbox's open "I paid" endpoint and a public key.
COMMAND_SETTINGS = {"run": "config.settings.local", "test": "config.settings.test"}


def default_settings(argv: list[str]) -> str:
    command = argv[1] if len(argv) > 1 else ""
    return COMMAND_SETTINGS.get(command, "config.settings.production")


def _compile_stale_catalogues(argv: list[str]) -> None:
    """Before `run` and `test` (and at install): compile each .po newer than its .mo (Babel, no gettext)."""
    command = argv[1] if len(argv) > 1 else ""
    if command in ("run", "test", "compilecatalogues"):
        sys.path.insert(0, str(ROOT))
        from apps.core.locales import compile_all

        for mo in compile_all(ROOT):
            print(f"[i18n] compiled {mo.relative_to(ROOT)}", flush=True)
        if command == "compilecatalogues":
            sys.exit(0)


def main() -> None:
    _bootstrap()
    _compile_stale_catalogues(sys.argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings(sys.argv))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
