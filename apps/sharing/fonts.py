"""The CJK font that posters set Chinese text in, found on the machine without any network.

The primary source is the `manimgx-fonts-cjk` wheel, a dependency in pyproject.toml: Google's and
Adobe's Noto Sans CJK (SIL Open Font License 1.1, licence text in the wheel), unmodified, as one
variable-weight collection, so a fresh machine with nothing but Python has it after `pip install`.
We take its Simplified Chinese face: the Traditional one (what the `cvttf-notosanscjk-*` wheels ship)
draws characters such as 骨, 直, 角 and 户 in Taiwanese forms that look wrong to mainland readers.

When the package is missing, common system CJK fonts are tried (Debian's fonts-noto-cjk and
fonts-wqy-*, macOS, Windows). A candidate is accepted only if it really draws Chinese: a font
without the glyphs would render every character as the same .notdef box ("tofu"), and a poster full
of boxes must fail loudly instead of being shared into a WeChat group.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from PIL import ImageFont

PACKAGE = "manimgx_fonts_cjk"
FONT_SUFFIXES = (".ttc", ".otc", ".otf", ".ttf")
REGULAR_WEIGHT = 400
BOLD_WEIGHT = 700

# (regular, bold or None) pairs, best first. Collections hold several regional faces; the
# Simplified Chinese one is picked by name.
SYSTEM_FONTS: tuple[tuple[str, str | None], ...] = (
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    ),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", None),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", None),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
    ("/System/Library/Fonts/PingFang.ttc", None),
    ("/System/Library/Fonts/STHeiti Medium.ttc", None),
    ("C:/Windows/Fonts/msyh.ttc", "C:/Windows/Fonts/msyhbd.ttc"),
)

# Face names that mean Simplified Chinese, in the naming schemes of the fonts above.
_SIMPLIFIED_MARKERS = (" SC", " GB", "Hans", "SC ", "PingFang SC", "Microsoft YaHei", "WenQuanYi")
_PROBE = "中"
_PROBE_OTHER = "国"
_NOT_A_CHARACTER = "\uffff"  # never in a cmap: always drawn as the font's .notdef glyph


class CJKFontNotFound(RuntimeError):
    """No installed font can draw Chinese, so text would come out as boxes."""


@dataclass(frozen=True)
class FontSource:
    path: Path
    index: int
    bold_path: Path | None = None
    bold_index: int = 0

    @property
    def name(self) -> str:
        return " ".join(ImageFont.truetype(str(self.path), 16, index=self.index).getname())


def draws_chinese(font: ImageFont.FreeTypeFont) -> bool:
    """Whether `font` has real glyphs for Chinese rather than its .notdef box.

    Two different characters must render differently from each other and from a code point no
    font maps; a font lacking them draws all three as the same box (or as nothing).
    """
    masks = [font.getmask(text) for text in (_PROBE, _PROBE_OTHER, _NOT_A_CHARACTER)]
    if masks[0].getbbox() is None:
        return False
    shapes = [(mask.size, bytes(mask)) for mask in masks]
    return shapes[0] != shapes[1] and shapes[0] != shapes[2]


def _face_count(path: Path) -> int:
    count = 0
    while True:
        try:
            ImageFont.truetype(str(path), 16, index=count)
        except OSError:
            return count
        count += 1
        if count > 64:  # no real collection is this large; guards against a looping loader
            return count


def _chinese_face(path: Path) -> int | None:
    """Index of the Simplified Chinese face in `path` (a font or a collection), if it draws Chinese."""
    if not path.is_file():
        return None
    try:
        faces = range(_face_count(path))
        fonts = [(index, ImageFont.truetype(str(path), 24, index=index)) for index in faces]
    except OSError:
        return None
    usable = [(index, font) for index, font in fonts if draws_chinese(font)]
    for index, font in usable:
        family = font.getname()[0] or ""
        if "Mono" not in family and any(marker in family for marker in _SIMPLIFIED_MARKERS):
            return index
    return usable[0][0] if usable else None


def _packaged_fonts() -> list[Path]:
    try:
        root = resources.files(PACKAGE)
    except ModuleNotFoundError:
        return []
    return sorted(Path(str(entry)) for entry in root.iterdir() if entry.name.lower().endswith(FONT_SUFFIXES))


def find_font_source(
    packaged: Iterable[Path] | None = None,
    system: Iterable[tuple[str, str | None]] = SYSTEM_FONTS,
) -> FontSource:
    """The first font that draws Simplified Chinese: the packaged one, else a system one."""
    candidates: list[tuple[Path, Path | None]] = [
        (path, None) for path in (_packaged_fonts() if packaged is None else packaged)
    ]
    candidates += [(Path(regular), Path(bold) if bold else None) for regular, bold in system]
    for regular, bold in candidates:
        index = _chinese_face(regular)
        if index is None:
            continue
        bold_index = _chinese_face(bold) if bold is not None else None
        if bold_index is None:
            return FontSource(path=regular, index=index)
        return FontSource(path=regular, index=index, bold_path=bold, bold_index=bold_index)
    tried = ", ".join(str(path) for path, _ in candidates) or "nothing"
    raise CJKFontNotFound(
        "No font that draws Chinese is installed, so posters would show boxes instead of text. "
        f"Tried: {tried}. Install the project's dependencies (`pip install manimgx-fonts-cjk`) "
        "or a system font (`apt-get install fonts-noto-cjk`)."
    )


@functools.cache
def font_source() -> FontSource:
    return find_font_source()


@functools.lru_cache(maxsize=64)
def cjk_font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC (or the best system CJK font) at `size` pixels, regular or bold.

    Cached: posters ask for the same few sizes over and over, and opening a 30 MB collection is
    not free. Callers must not change the returned font's variation, which other callers share.
    A font without a bold weight and without a bold file answers `bold=True` in its regular weight.
    """
    source = font_source()
    if bold and source.bold_path is not None:
        return ImageFont.truetype(str(source.bold_path), size, index=source.bold_index)
    font = ImageFont.truetype(str(source.path), size, index=source.index)
    try:
        axes = font.get_variation_axes()
    except OSError:  # not a variable font: its one weight is what we have
        return font
    weight = BOLD_WEIGHT if bold else REGULAR_WEIGHT
    font.set_variation_by_axes(
        [
            max(axis["minimum"], min(axis["maximum"], weight))
            if axis["name"] == b"Weight"
            else axis["default"]
            for axis in axes
        ]
    )
    return font
