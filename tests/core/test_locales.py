"""Translations: compiled with Babel (no GNU gettext), and every msgid the code uses has its Chinese.

msgids are English (gettext_lazy); the Chinese lives in apps/<app>/locale/zh_Hans/LC_MESSAGES/django.po
and the project's locale/. The .mo files are build output, compiled by manage.py and conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from apps.core import locales

ROOT = Path(settings.BASE_DIR)
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "gettext_now": None,  # `from django.utils.translation import gettext as gettext_now`
    "ngettext_lazy": (1, 2),
    "pgettext_lazy": ((1, "c"), 2),
    "gettext_noop": None,
}


def _msgids(app_dir: Path) -> set[str]:
    found = set()
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(app_dir), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if "migrations" not in filename:
            found.add(message if isinstance(message, str) else message[0])
    return found


def _translated(po: Path) -> dict[str, str]:
    with po.open("rb") as source:
        catalog = read_po(source)
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): (m.string if isinstance(m.string, str) else m.string[0])
        for m in catalog
        if m.id and not m.fuzzy
    }


@pytest.mark.parametrize("app_dir", sorted(p for p in (ROOT / "apps").iterdir() if (p / "apps.py").exists()))
def test_every_msgid_an_app_uses_has_its_chinese(app_dir):
    used = _msgids(app_dir)
    if not used:
        return
    po = app_dir / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    assert po.exists(), f"{app_dir.name} uses gettext but has no catalogue at {po.relative_to(ROOT)}"
    have = _translated(po)
    project = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    if project.exists():
        have = {**_translated(project), **have}
    missing = sorted(m for m in used if not have.get(m))
    assert missing == [], f"untranslated in {po.relative_to(ROOT)}: {missing}"


def test_every_catalogue_compiles_with_babel(tmp_path):
    pos = locales.catalogues(ROOT)
    assert pos, "no catalogue found"
    for po in pos:
        copy = tmp_path / po.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(po.read_bytes())
        mo = locales.compile_catalogue(copy)
        assert mo.stat().st_size > 0


def test_only_stale_catalogues_are_recompiled(tmp_path):
    po = tmp_path / "apps" / "demo" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
    po.write_text(header + '\nmsgid "Paid"\nmsgstr "已支付"\n', encoding="utf-8")
    assert locales.compile_all(tmp_path) == [po.with_suffix(".mo")]
    assert locales.compile_all(tmp_path) == []  # up to date
    os.utime(po, (po.stat().st_mtime + 10, po.stat().st_mtime + 10))
    assert locales.compile_all(tmp_path) == [po.with_suffix(".mo")]


def test_the_compiled_catalogue_is_what_django_reads():
    from apps.core.money_admin import YuanField

    message = YuanField.default_error_messages["invalid"]
    with translation.override("zh-hans"):
        assert str(message) == "请输入以元为单位的金额，例如 12.34。"
    with translation.override("en"):
        assert str(message) == "Enter an amount in yuan, such as 12.34."


def test_mo_files_are_not_committed():
    assert "*.mo" in (ROOT / ".gitignore").read_text().splitlines()


def test_a_msgid_means_the_same_in_every_catalogue():
    """Django merges the catalogues into one per language: a msgid translated two ways would show one
    app's Chinese in another app's page."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for po in locales.catalogues(ROOT):
        for msgid, text in _translated(po).items():
            where = str(po.relative_to(ROOT))
            if msgid in seen and seen[msgid][0] != text:
                clashes.append(f"{msgid!r}: {seen[msgid][0]!r} ({seen[msgid][1]}) vs {text!r} ({where})")
            seen.setdefault(msgid, (text, where))
    assert clashes == []


def _template_msgids() -> dict[str, set[str]]:
    """The msgids of every {% translate %} / {% blocktranslate %} in the project's templates, read as
    Django's makemessages reads them (templatize) and extracted with Babel."""
    import io

    from babel.messages.extract import extract_python
    from django.utils.translation.template import templatize

    found: dict[str, set[str]] = {}
    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("apps/*/templates/**/*.html")]:
        code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
        for _line, _func, message, _comments in extract_python(
            io.BytesIO(code.encode("utf-8")), list(DEFAULT_KEYWORDS), [], {}
        ):
            found.setdefault(message if isinstance(message, str) else message[0], set()).add(
                str(path.relative_to(ROOT))
            )
    return found


def test_every_template_msgid_reads_in_chinese():
    found = _template_msgids()
    assert "Export CSV" in found  # the extraction works
    with translation.override("zh-hans"):
        untranslated = {m: sorted(where) for m, where in found.items() if translation.gettext(m) == m}
    assert untranslated == {}


def test_the_admin_pages_read_in_english_under_en():
    with translation.override("en"):
        assert translation.gettext("Export CSV") == "Export CSV"
        assert str(_("Refunds to approve")) == "Refunds to approve"
    with translation.override("zh-hans"):
        assert translation.gettext("Export CSV") == "导出 CSV"
        assert str(_("Refunds to approve")) == "退款待审批"
