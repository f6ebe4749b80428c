import io

import pytest
import zxingcpp
from django.conf import settings
from PIL import Image, ImageChops, ImageDraw

from apps.sharing.fonts import cjk_font
from apps.sharing.posters import (
    CARD_BOX,
    ELLIPSIS,
    IMAGE_BOX,
    POSTER_SIZE,
    PRICE_BOX,
    QR_BOX,
    RED,
    SHARER_BOX,
    SOLO_BOX,
    TITLE_BOX,
    TITLE_MAX_LINES,
    TITLE_SIZE,
    render_poster,
    share_cover,
    solo_price_span,
    wrap_text,
)
from apps.wechat.sandbox.miniprogram import qr_png

CODE_TEXT = "pages/share/index?scene=AbC12345"
LONG_TITLE = (
    "新疆阿克苏冰糖心苹果 5斤装 脆甜多汁，产地直发，坏果包赔，年货送礼首选礼盒装，"
    "限时拼团再送精美手提袋一个，数量有限先到先得"
)


def _photo(size=(1200, 900), fmt="JPEG") -> bytes:
    """A stand-in product photo: warm gradient with a red fruit in the middle."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line(
            [(0, y), (width, y)],
            fill=(250 - y * 70 // height, 220 - y * 90 // height, 180 - y * 90 // height),
        )
    radius = min(size) * 0.3
    draw.ellipse(
        (width / 2 - radius, height / 2 - radius, width / 2 + radius, height / 2 + radius), fill=(190, 50, 40)
    )
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _poster(**overrides) -> Image.Image:
    arguments = {
        "product_image": _photo(),
        "title": "新疆阿克苏冰糖心苹果 5斤装",
        "price_fen": 9900,
        "sharer_name": "小红",
        "qr_png": qr_png(CODE_TEXT),
    } | overrides
    image = Image.open(io.BytesIO(render_poster(**arguments)))
    assert image.format == "PNG"
    return image.convert("RGB")


def _red_pixels(image: Image.Image) -> int:
    bands = [
        band.point(lambda value, target=target: 255 if abs(value - target) < 40 else 0)
        for band, target in zip(image.split(), RED, strict=True)
    ]
    return ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2]).histogram()[255]


def _differs(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is not None


def _is_blank_white(image: Image.Image) -> bool:
    return image.getextrema() == ((255, 255), (255, 255), (255, 255))


def test_a_poster_is_a_750_by_1334_png():
    # when
    png = render_poster(
        product_image=_photo(), title="春季新品", price_fen=9900, sharer_name="小红", qr_png=qr_png(CODE_TEXT)
    )

    # then
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.size == POSTER_SIZE == (750, 1334)


def test_the_code_in_qr_box_scans_to_exactly_the_shared_page():
    # given
    poster = _poster(group_price_fen=6900, group_size=3)

    # when
    found = zxingcpp.read_barcodes(poster.crop(QR_BOX))

    # then
    assert [(code.format, code.text) for code in found] == [(zxingcpp.BarcodeFormat.QRCode, CODE_TEXT)]


def test_the_code_still_scans_when_it_is_not_square():
    # given: a code with a wide transparent margin, as some generators answer
    code = Image.open(io.BytesIO(qr_png(CODE_TEXT))).convert("RGBA")
    wide = Image.new("RGBA", (code.width * 2, code.height), (0, 0, 0, 0))
    wide.paste(code, (code.width // 2, 0))
    out = io.BytesIO()
    wide.save(out, format="PNG")

    # when
    found = zxingcpp.read_barcodes(_poster(qr_png=out.getvalue()).crop(QR_BOX))

    # then
    assert [code.text for code in found] == [CODE_TEXT]


def test_different_chinese_titles_render_as_different_real_glyphs():
    # given
    font = cjk_font(TITLE_SIZE, bold=True)

    # when
    first = _poster(title="春季新品连衣裙").crop(TITLE_BOX)
    second = _poster(title="秋冬保暖羽绒服").crop(TITLE_BOX)

    # then: each title inked something, the two differ, and 中 is not the .notdef box
    assert not _is_blank_white(first)
    assert not _is_blank_white(second)
    assert _differs(first, second)
    zhong, notdef = font.getmask("中"), font.getmask("\uffff")
    assert zhong.getbbox() is not None
    assert (zhong.size, bytes(zhong)) != (notdef.size, bytes(notdef))


def test_a_long_title_is_cut_to_the_title_area_with_an_ellipsis():
    # given
    font = cjk_font(TITLE_SIZE, bold=True)
    width = TITLE_BOX[2] - TITLE_BOX[0]

    # when
    lines = wrap_text(LONG_TITLE, font, width, max_lines=TITLE_MAX_LINES)
    poster = _poster(title=LONG_TITLE)

    # then
    assert len(lines) == TITLE_MAX_LINES
    assert lines[-1].endswith(ELLIPSIS)
    assert all(font.getlength(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "").startswith("新疆阿克苏冰糖心苹果5斤装")
    # Nothing is drawn right of the title area, nor between it and the price.
    assert _is_blank_white(poster.crop((TITLE_BOX[2], TITLE_BOX[1], CARD_BOX[2] - 1, TITLE_BOX[3])))
    assert _is_blank_white(poster.crop((CARD_BOX[0] + 1, TITLE_BOX[3], CARD_BOX[2] - 1, PRICE_BOX[1])))


def test_a_short_title_is_one_line_without_ellipsis():
    assert wrap_text("  春季新品  ", cjk_font(TITLE_SIZE, bold=True), 598, max_lines=2) == ["春季新品"]


def test_latin_words_stay_whole_and_punctuation_never_opens_a_line():
    # given
    font = cjk_font(TITLE_SIZE, bold=True)
    width = TITLE_BOX[2] - TITLE_BOX[0]
    fits = int(width // font.getlength("好"))
    # "，" lands exactly where the first line is full
    text = "好" * fits + "，好好好"

    # when
    latin = wrap_text("Apple iPhone 15 Pro Max 256GB 原色钛金属 官方正品 全国联保", font, width, max_lines=3)
    punctuated = wrap_text(text, font, width, max_lines=3)

    # then
    words = {"Apple", "iPhone", "15", "Pro", "Max", "256GB"}
    assert all(token in words for line in latin for token in line.split() if token.isascii())
    assert punctuated == ["好" * (fits - 1), "好，好好好"]


def _longest_dark_run(image: Image.Image) -> tuple[int, int]:
    """(length, row) of the longest run of consecutive non-white pixels on any row of `image`."""
    grey = image.convert("L")
    best = (0, 0)
    for y in range(grey.height):
        run = 0
        for x in range(grey.width):
            run = run + 1 if grey.getpixel((x, y)) < 200 else 0
            best = max(best, (run, y))
    return best


def test_the_price_is_in_red_and_a_solo_poster_has_no_struck_price():
    # when
    plain = _poster(price_fen=9900)
    cheaper = _poster(price_fen=6900)

    # then
    assert _red_pixels(plain.crop(PRICE_BOX)) > 1500
    assert _differs(plain.crop(PRICE_BOX), cheaper.crop(PRICE_BOX))
    assert _is_blank_white(plain.crop(SOLO_BOX))


def test_a_group_buy_poster_headlines_the_group_price_and_strikes_the_solo_price_through():
    # when: the same group buy, then with another solo price, then with another group price
    grouped = _poster(price_fen=9900, group_price_fen=6900, group_size=3)
    dearer_solo = _poster(price_fen=12900, group_price_fen=6900, group_size=3)
    cheaper_group = _poster(price_fen=9900, group_price_fen=5900, group_size=3)
    without_size = _poster(price_fen=9900, group_price_fen=6900)

    # then the headline is the group price: it changes with the group price, never with the solo one
    headline = grouped.crop(PRICE_BOX)
    assert _red_pixels(headline) > 1500
    assert not _differs(headline, dearer_solo.crop(PRICE_BOX))
    assert _differs(headline, cheaper_group.crop(PRICE_BOX))
    assert _differs(headline, without_size.crop(PRICE_BOX))  # "3人团" tag versus "拼团价"
    # and the solo price sits below it, grey, not red, changing only with the solo price
    solo = grouped.crop(SOLO_BOX)
    assert _red_pixels(solo) == 0
    assert _differs(solo, dearer_solo.crop(SOLO_BOX))
    assert not _differs(solo, cheaper_group.crop(SOLO_BOX))
    # and a line runs across the whole solo amount: glyphs alone never make a row that long
    start, end = solo_price_span(9900)
    run, row = _longest_dark_run(solo)
    assert run >= end - start
    assert 0.3 < row / solo.height < 0.7
    assert _longest_dark_run(_poster(price_fen=9900).crop(SOLO_BOX))[0] == 0


def test_the_sharer_name_is_drawn_and_a_long_one_stays_left_of_the_code():
    # when
    xiaohong = _poster(sharer_name="小红").crop(SHARER_BOX)
    xiaoming = _poster(sharer_name="小明").crop(SHARER_BOX)
    long_name = _poster(sharer_name="超级无敌好物推荐官小红书达人Lily" * 3)

    # then
    assert _differs(xiaohong, xiaoming)
    gap = long_name.crop((SHARER_BOX[2], SHARER_BOX[1], QR_BOX[0], SHARER_BOX[3]))
    assert _is_blank_white(gap)


def test_the_product_photo_fills_its_area_cropped_to_the_middle():
    # given: a panorama whose middle third is green and whose sides are blue
    panorama = Image.new("RGB", (3000, 1000), (30, 60, 200))
    panorama.paste((20, 160, 60), (1000, 0, 2000, 1000))
    out = io.BytesIO()
    panorama.save(out, format="PNG")

    # when
    area = _poster(product_image=out.getvalue()).crop(IMAGE_BOX)

    # then: the square crop is all middle
    middle = area.crop((40, 40, area.width - 40, area.height - 40))
    assert middle.getextrema() == ((20, 20), (160, 160), (60, 60))


def test_no_photo_or_an_unreadable_one_draws_the_placeholder():
    # when
    without = _poster(product_image=None).crop(IMAGE_BOX)
    broken = _poster(product_image=b"definitely not an image").crop(IMAGE_BOX)
    with_photo = _poster().crop(IMAGE_BOX)

    # then
    assert not _differs(without, broken)
    assert _differs(without, with_photo)


def test_an_unreadable_code_is_an_error():
    with pytest.raises(ValueError, match="qr_png"):
        render_poster(product_image=None, title="t", price_fen=1, sharer_name="s", qr_png=b"nope")


def test_share_cover_is_a_5_by_4_jpeg_cropped_to_the_middle():
    # given: a wide photo with green in the middle and blue at the sides
    wide = Image.new("RGB", (2000, 800), (30, 60, 200))
    wide.paste((20, 160, 60), (500, 0, 1500, 800))
    out = io.BytesIO()
    wide.save(out, format="PNG")

    # when
    cover = Image.open(io.BytesIO(share_cover(out.getvalue())))

    # then
    assert (cover.format, cover.size) == ("JPEG", (500, 400))
    r, g, b = cover.convert("RGB").getpixel((250, 200))
    assert g > 140 and r < 50 and b < 90
    r, g, b = cover.convert("RGB").getpixel((5, 200))
    assert g > 140 and b < 90  # the blue sides were cropped away


def test_share_cover_flattens_transparency_onto_white_and_refuses_junk():
    # given
    clear = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    out = io.BytesIO()
    clear.save(out, format="PNG")

    # when
    cover = Image.open(io.BytesIO(share_cover(out.getvalue()))).convert("RGB")

    # then
    assert min(cover.getextrema(), key=lambda band: band[0])[0] > 245
    with pytest.raises(ValueError):
        share_cover(b"junk")


def test_an_example_poster_is_saved_for_people_to_look_at():
    # given
    folder = settings.BASE_DIR / "test-artifacts"
    folder.mkdir(exist_ok=True)

    # when
    png = render_poster(
        product_image=_photo(),
        title=LONG_TITLE,
        price_fen=9900,
        sharer_name="小红书达人Lily",
        qr_png=qr_png(CODE_TEXT),
        group_price_fen=6900,
        group_size=3,
    )
    (folder / "poster.png").write_bytes(png)

    # then
    assert zxingcpp.read_barcodes(Image.open(folder / "poster.png").crop(QR_BOX))[0].text == CODE_TEXT
