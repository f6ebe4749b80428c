"""Compile the translation catalogues (.po -> .mo) with Babel, pure Python: GNU gettext is not needed.

The .mo files are build output, not committed (.gitignore). manage.py compiles them at install and
before `run` and `test` whenever a .po is newer than its .mo; the test suite's conftest does the same,
so a direct `pytest` run sees current translations. Catalogues live in each app's
`apps/<app>/locale/<lang>/LC_MESSAGES/django.po` and in the project's `locale/` (LOCALE_PATHS).

This module imports nothing from Django: manage.py calls it before settings are configured.
"""

from __future__ import annotations

from pathlib import Path


def catalogues(root: Path) -> list[Path]:
    """Every .po file the project ships: the apps' and the project's."""
    return sorted([*root.glob("apps/*/locale/**/*.po"), *root.glob("locale/**/*.po")])


def is_stale(po: Path) -> bool:
    mo = po.with_suffix(".mo")
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def compile_catalogue(po: Path) -> Path:
    """Write `po`'s .mo next to it; fuzzy entries are left out, as msgfmt does by default."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, abort_invalid=True)
    mo = po.with_suffix(".mo")
    tmp = mo.with_suffix(".mo.tmp")
    with tmp.open("wb") as target:
        write_mo(target, catalog, use_fuzzy=False)
    tmp.replace(mo)  # atomic: a server reading catalogues never sees half a file
    return mo


def compile_all(root: Path, *, only_stale: bool = True) -> list[Path]:
    """Compile the catalogues under `root` (only those newer than their .mo unless told otherwise)."""
    return [compile_catalogue(po) for po in catalogues(root) if not only_stale or is_stale(po)]
