"""Share posters and share-card covers, drawn with Pillow and no network.

A poster is what a KOC saves to the phone's album and posts into a WeChat group: product photo,
title, price, "小明 推荐", and the mini-program code that opens the product when long-pressed. Its
geometry is fixed (750×1334, the 2× size of a phone screen, which WeChat shows edge to edge) and the
code sits in `QR_BOX`, so tests and support staff know exactly where to look for it.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from apps.core.money import yuan
from apps.sharing.fonts import cjk_font

logger = logging.getLogger(__name__)

POSTER_SIZE = (750, 1334)
# WeChat crops a shared card's image to 5:4; 500×400 is its recommended size.
COVER_SIZE = (500, 400)

BACKGROUND = (244, 238, 233)
CARD = (255, 255, 255)
INK = (34, 34, 34)
MUTED = (140, 140, 140)
HAIRLINE = (232, 232, 232)
RED = (226, 35, 26)
RED_TINT = (255, 240, 238)
PLACEHOLDER = (246, 246, 246)

MARGIN = 40  # background visible around the card
PADDING = 36  # inside the card
CARD_BOX = (MARGIN, MARGIN, POSTER_SIZE[0] - MARGIN, POSTER_SIZE[1] - MARGIN)
CARD_RADIUS = 28
CONTENT_LEFT = CARD_BOX[0] + PADDING
CONTENT_RIGHT = CARD_BOX[2] - PADDING

# The product photo fills the top of the card edge to edge, cropped to a square.
IMAGE_BOX = (CARD_BOX[0], CARD_BOX[1], CARD_BOX[2], CARD_BOX[1] + (CARD_BOX[2] - CARD_BOX[0]))

TITLE_SIZE = 34
TITLE_LINE_HEIGHT = 50
TITLE_MAX_LINES = 2
TITLE_BOX = (
    CONTENT_LEFT,
    IMAGE_BOX[3] + 30,
    CONTENT_RIGHT,
    IMAGE_BOX[3] + 30 + TITLE_MAX_LINES * TITLE_LINE_HEIGHT,
)

# The headline price: the price the shopper pays through this share (a group buy's group price).
PRICE_BOX = (CONTENT_LEFT, TITLE_BOX[3] + 14, CONTENT_RIGHT, TITLE_BOX[3] + 14 + 80)
# Under it, for a group buy only, the solo price struck through: what the group saves is the pitch.
SOLO_BOX = (CONTENT_LEFT, PRICE_BOX[3] + 4, CONTENT_RIGHT, PRICE_BOX[3] + 4 + 48)
SOLO_SIZE = 30
DIVIDER_Y = SOLO_BOX[3] + 24

# The mini-program code: a fixed square at the bottom right of the card, caption underneath.
QR_SIZE = 200
QR_BOX = (CONTENT_RIGHT - QR_SIZE, DIVIDER_Y + 28, CONTENT_RIGHT, DIVIDER_Y + 28 + QR_SIZE)
QR_CAPTION = "长按识别小程序码"
SHARER_HINT = ("长按右侧小程序码", "查看详情 · 一起拼更划算")
SHARER_BOX = (CONTENT_LEFT, QR_BOX[1], QR_BOX[0] - 28, QR_BOX[3])

ELLIPSIS = "…"
# Punctuation that Chinese typesetting never lets open a line (禁则).
_NO_LINE_START = set("，。、；：！？）》」』】〉”’,.;:!?)]}%…")
# A run of Latin letters or digits wraps as one word; every other character wraps on its own.
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.'\-]*|\s+|.", re.DOTALL)


def render_poster(
    *,
    product_image: bytes | None,
    title: str,
    price_fen: int,
    sharer_name: str,
    qr_png: bytes,
    group_price_fen: int | None = None,
    group_size: int | None = None,
) -> bytes:
    """A 750×1334 PNG poster for one product share.

    `product_image` is any image Pillow reads (None or unreadable: a neutral placeholder, since a
    poster without a photo still sells); `qr_png` is the mini-program code from
    `wechat.client.get_wxa_code_unlimited` and must be readable. With `group_price_fen` the
    headline is the group price behind a "3人团" tag (with `group_size`) or "拼团价" (without), and
    the solo price `price_fen` follows, smaller, grey and struck through: a group buy sells the group
    price, and a headline at the solo price read as if the group saved nothing.
    """
    poster = Image.new("RGB", POSTER_SIZE, BACKGROUND)
    _draw_card(poster)
    _paste_product_image(poster, product_image)
    draw = ImageDraw.Draw(poster)

    title_font = cjk_font(TITLE_SIZE, bold=True)
    lines = wrap_text(title.strip(), title_font, TITLE_BOX[2] - TITLE_BOX[0], max_lines=TITLE_MAX_LINES)
    for number, line in enumerate(lines):
        top = TITLE_BOX[1] + number * TITLE_LINE_HEIGHT
        draw.text((TITLE_BOX[0], top + TITLE_LINE_HEIGHT / 2), line, font=title_font, fill=INK, anchor="lm")

    if group_price_fen is None:
        _draw_price(draw, price_fen, left=PRICE_BOX[0])
    else:
        _draw_price(draw, group_price_fen, left=_draw_group_tag(draw, group_size))
        _draw_solo_price(draw, price_fen)

    draw.line([(CONTENT_LEFT, DIVIDER_Y), (CONTENT_RIGHT, DIVIDER_Y)], fill=HAIRLINE, width=2)
    _draw_sharer(poster, draw, sharer_name)
    _paste_qr(poster, qr_png)
    caption_font = cjk_font(22)
    draw.text(
        ((QR_BOX[0] + QR_BOX[2]) / 2, QR_BOX[3] + 14), QR_CAPTION, font=caption_font, fill=MUTED, anchor="mt"
    )
    return _png(poster)


def share_cover(image_bytes: bytes, *, size: tuple[int, int] = COVER_SIZE) -> bytes:
    """A JPEG of `image_bytes` center-cropped to 5:4 for a shared mini-program card.

    WeChat shows the card image at 5:4 and crops anything else itself, often cutting the product
    off; cropping here keeps the product in the middle. JPEG because a photo is 5-10× smaller than
    as PNG and the card is downloaded by everyone in the group. Raises ValueError for bytes that are
    not an image.
    """
    image = _open_image(image_bytes, size)
    if image is None:
        raise ValueError("not an image Pillow can read")
    cover = ImageOps.fit(image, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    out = io.BytesIO()
    cover.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: float, *, max_lines: int) -> list[str]:
    """`text` in lines no wider than `width` pixels, at most `max_lines`, the last ending in "…" if cut.

    Widths come from `font.getlength`, so mixed Chinese, Latin and digits measure as drawn. Chinese
    breaks between any two characters; Latin words and numbers stay whole unless a single one is
    wider than a line; closing punctuation never starts a line.
    """
    text = " ".join(text.split())
    lines: list[str] = []
    current = ""
    for token in _tokens(text, font, width):
        candidate = current + token
        if font.getlength(candidate.rstrip()) <= width or not current.strip():
            current = candidate
            continue
        if token[0] in _NO_LINE_START and len(current) > 1:
            # Carry the last character down with the punctuation rather than open a line with it.
            lines.append(current[:-1].rstrip())
            current = current[-1] + token
        else:
            lines.append(current.rstrip())
            current = token.lstrip()
    if current.strip():
        lines.append(current.rstrip())
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    kept[-1] = _ellipsize(kept[-1] + lines[max_lines], font, width)
    return kept


def _tokens(text: str, font: ImageFont.FreeTypeFont, width: float) -> Iterator[str]:
    for token in _TOKEN_RE.findall(text):
        if len(token) > 1 and font.getlength(token) > width:
            yield from token  # a word longer than a line breaks anywhere
        else:
            yield token


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    while line and font.getlength(line.rstrip() + ELLIPSIS) > width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


def _draw_card(poster: Image.Image) -> None:
    shadow = Image.new("L", POSTER_SIZE, 0)
    offset_box = (CARD_BOX[0], CARD_BOX[1] + 8, CARD_BOX[2], CARD_BOX[3] + 8)
    ImageDraw.Draw(shadow).rounded_rectangle(offset_box, radius=CARD_RADIUS, fill=40)
    shadow = shadow.filter(ImageFilter.GaussianBlur(16))
    poster.paste(Image.new("RGB", POSTER_SIZE, (120, 90, 70)), (0, 0), shadow)
    ImageDraw.Draw(poster).rounded_rectangle(CARD_BOX, radius=CARD_RADIUS, fill=CARD)


def _paste_product_image(poster: Image.Image, product_image: bytes | None) -> None:
    box_size = (IMAGE_BOX[2] - IMAGE_BOX[0], IMAGE_BOX[3] - IMAGE_BOX[1])
    image = _open_image(product_image, box_size) if product_image else None
    if product_image and image is None:
        logger.warning("poster: product image is not readable, drawing the placeholder instead")
    if image is None:
        photo = Image.new("RGB", box_size, PLACEHOLDER)
        ImageDraw.Draw(photo).text(
            (box_size[0] / 2, box_size[1] / 2),
            "好物推荐",
            font=cjk_font(44),
            fill=(200, 200, 200),
            anchor="mm",
        )
    else:
        photo = ImageOps.fit(image, box_size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    # Round the top corners to the card's; the bottom edge meets the white card square.
    mask = Image.new("L", box_size, 0)
    mask_draw = ImageDraw.Draw(mask)
    mask_draw.rounded_rectangle((0, 0, box_size[0] - 1, box_size[1] - 1), radius=CARD_RADIUS, fill=255)
    mask_draw.rectangle((0, box_size[1] // 2, box_size[0] - 1, box_size[1] - 1), fill=255)
    poster.paste(photo, IMAGE_BOX[:2], mask)


def _draw_price(draw: ImageDraw.ImageDraw, price_fen: int, *, left: float) -> None:
    whole, _, cents = yuan(price_fen).partition(".")
    baseline = PRICE_BOX[3] - 14
    x = left
    for text, size in (("¥", 36), (whole, 68), (f".{cents}", 36)):
        font = cjk_font(size, bold=True)
        draw.text((x, baseline), text, font=font, fill=RED, anchor="ls")
        x += font.getlength(text) + (4 if text == "¥" else 0)


def _draw_group_tag(draw: ImageDraw.ImageDraw, group_size: int | None) -> float:
    """The red "3人团" pill at the start of the headline; answers where the price starts."""
    label = f"{group_size}人团" if group_size else "拼团价"
    label_font = cjk_font(26, bold=True)
    pad = 14
    bottom = PRICE_BOX[3] - 16
    top = bottom - 44
    left = PRICE_BOX[0]
    right = left + label_font.getlength(label) + 2 * pad
    draw.rounded_rectangle((left, top, right, bottom), radius=(bottom - top) // 2, fill=RED)
    draw.text(((left + right) / 2, (top + bottom) / 2), label, font=label_font, fill=CARD, anchor="mm")
    return right + 16


def solo_price_span(price_fen: int) -> tuple[float, float]:
    """Where, left to right, the struck-through "¥99.00" of the solo line is drawn (for tests)."""
    label_width = cjk_font(SOLO_SIZE).getlength("单买价 ")
    start = SOLO_BOX[0] + label_width
    return start, start + cjk_font(SOLO_SIZE).getlength(f"¥{yuan(price_fen)}")


def _draw_solo_price(draw: ImageDraw.ImageDraw, price_fen: int) -> None:
    font = cjk_font(SOLO_SIZE)
    middle = (SOLO_BOX[1] + SOLO_BOX[3]) / 2
    draw.text((SOLO_BOX[0], middle), "单买价 ", font=font, fill=MUTED, anchor="lm")
    start, end = solo_price_span(price_fen)
    draw.text((start, middle), f"¥{yuan(price_fen)}", font=font, fill=MUTED, anchor="lm")
    draw.line([(start - 2, middle), (end + 2, middle)], fill=MUTED, width=3)


def _draw_sharer(poster: Image.Image, draw: ImageDraw.ImageDraw, sharer_name: str) -> None:
    name = " ".join(sharer_name.split()) or "好友"
    left, top, right, _ = SHARER_BOX
    avatar = 72
    avatar_box = (left, top + 8, left + avatar, top + 8 + avatar)
    draw.ellipse(avatar_box, fill=RED_TINT)
    draw.text(
        ((avatar_box[0] + avatar_box[2]) / 2, (avatar_box[1] + avatar_box[3]) / 2),
        name[0],
        font=cjk_font(34, bold=True),
        fill=RED,
        anchor="mm",
    )
    text_left = avatar_box[2] + 18
    name_font = cjk_font(30, bold=True)
    suffix = " 推荐"
    room = right - text_left - name_font.getlength(suffix)
    shown = name if name_font.getlength(name) <= room else _ellipsize(name, name_font, room)
    draw.text((text_left, avatar_box[1] + 6), shown + suffix, font=name_font, fill=INK, anchor="lt")
    draw.text((text_left, avatar_box[1] + 50), "好物分享给你", font=cjk_font(22), fill=MUTED, anchor="lt")
    hint_font = cjk_font(24)
    hint_top = avatar_box[3] + 40
    for number, line in enumerate(SHARER_HINT):
        draw.text((left, hint_top + number * 38), line, font=hint_font, fill=MUTED, anchor="lt")


def _paste_qr(poster: Image.Image, qr_png: bytes) -> None:
    size = (QR_BOX[2] - QR_BOX[0], QR_BOX[3] - QR_BOX[1])
    code = _open_image(qr_png, size)
    if code is None:
        raise ValueError("qr_png is not an image Pillow can read")
    # Contain, never crop: a code missing an edge does not scan.
    code = ImageOps.contain(code, size, method=Image.Resampling.LANCZOS)
    tile = Image.new("RGB", size, CARD)
    tile.paste(code, ((size[0] - code.width) // 2, (size[1] - code.height) // 2))
    poster.paste(tile, QR_BOX[:2])


def _open_image(data: bytes | None, target: tuple[int, int]) -> Image.Image | None:
    """`data` as an upright RGB image (transparency flattened onto white), or None if unreadable."""
    if not data:
        return None
    try:
        image = Image.open(io.BytesIO(data))
        # For JPEG, decode at a reduced scale straight away: phone photos are 4000 px wide.
        image.draft("RGB", (target[0] * 2, target[1] * 2))
        image = ImageOps.exif_transpose(image)
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError):
        return None
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, CARD)
        flat.paste(image, (0, 0), image)
        return flat
    return image.convert("RGB")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
