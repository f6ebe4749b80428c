from pathlib import Path

import pytest

from apps.sharing import fonts
from apps.sharing.fonts import CJKFontNotFound, cjk_font, draws_chinese, find_font_source, font_source

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _ink(font, text: str) -> int:
    return sum(bytes(font.getmask(text)))


def test_the_font_comes_from_the_pip_package_in_its_simplified_chinese_face():
    # when
    source = font_source()

    # then
    assert "manimgx_fonts_cjk" in source.path.parts
    assert cjk_font(32).getname()[0] == "Noto Sans CJK SC"


def test_chinese_characters_render_as_their_own_glyphs_not_the_notdef_box():
    # given
    font = cjk_font(40)

    # when
    zhong, guo, notdef = (font.getmask(text) for text in ("中", "国", "\uffff"))

    # then
    assert zhong.getbbox() is not None
    assert bytes(zhong) != bytes(guo)
    assert (zhong.size, bytes(zhong)) != (notdef.size, bytes(notdef))
    assert draws_chinese(font)


def test_bold_is_heavier_than_regular():
    assert _ink(cjk_font(40, bold=True), "中国人") > 1.3 * _ink(cjk_font(40), "中国人")


def test_fonts_are_cached_per_size_and_weight():
    assert cjk_font(30) is cjk_font(30)
    assert cjk_font(30) is not cjk_font(30, bold=True)
    assert cjk_font(30) is not cjk_font(31)


def test_a_system_font_is_used_when_the_package_has_none():
    # given: the packaged collection, standing in for /usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc
    system_font = font_source().path

    # when
    source = find_font_source(packaged=[], system=[("/no/such/font.ttc", None), (str(system_font), None)])

    # then
    assert source.path == system_font
    assert source.name.startswith("Noto Sans CJK SC")


def test_a_missing_package_means_no_packaged_fonts(monkeypatch):
    monkeypatch.setattr(fonts, "PACKAGE", "no_such_font_package")

    assert fonts._packaged_fonts() == []


def test_no_usable_font_is_a_clear_error_not_tofu(tmp_path):
    # given: a file that is no font at all
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")

    # when / then
    with pytest.raises(CJKFontNotFound) as raised:
        find_font_source(packaged=[junk], system=[("/no/such/font.ttc", None)])
    assert str(junk) in str(raised.value)
    assert "fonts-noto-cjk" in str(raised.value)


@pytest.mark.skipif(not DEJAVU.is_file(), reason=f"needs a Latin-only font at {DEJAVU} (fonts-dejavu-core)")
def test_a_font_without_chinese_glyphs_is_refused():
    # given: a real font that has no Chinese, so it would draw boxes
    from PIL import ImageFont

    assert not draws_chinese(ImageFont.truetype(str(DEJAVU), 40))

    # when / then
    with pytest.raises(CJKFontNotFound):
        find_font_source(packaged=[], system=[(str(DEJAVU), None)])
