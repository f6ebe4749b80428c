"""Uploaded product pictures: proven to be real images before anything is stored, then resized.

Validation, in this order, so that nothing expensive runs on hostile input:
1. size in bytes (MAX_BYTES);
2. Pillow identifies the format from the content, not the name (a renamed text file fails) and it
   must be JPEG, PNG or WEBP;
3. the declared dimensions, read from the header before any decoding, stay under MAX_PIXELS (a
   decompression bomb — a small file claiming a huge canvas — is refused without being decoded);
   Pillow's own DecompressionBombWarning/Error are errors here too;
4. `verify()` checks the file's structure, then a full decode proves the pixels are readable.

Variants (all JPEG, EXIF orientation applied): a thumbnail fitting 200x200, a display copy at most
750 wide, and a 5:4 share cover of exactly 500x400, centre-cropped (WeChat share cards are 5:4).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.utils.translation import gettext
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImage

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
THUMB_BOX = (200, 200)
DISPLAY_WIDTH = 750
SHARE_COVER = (500, 400)

# Pillow's process-wide guard, set to our limit: it warns above it and raises at twice it.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class Variant:
    name: str
    content: bytes


@dataclass(frozen=True)
class ProcessedImage:
    format: str
    extension: str
    width: int
    height: int
    original: bytes
    thumb: bytes
    display: bytes
    share_cover: bytes


def _read(upload) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise InvalidImage(
            gettext("An image may not exceed %(max)s MB.") % {"max": MAX_BYTES // (1024 * 1024)}
        )
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InvalidImage(
            gettext("An image may not exceed %(max)s MB.") % {"max": MAX_BYTES // (1024 * 1024)}
        )
    if not data:
        raise InvalidImage(gettext("The image is empty."))
    return data


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage(gettext("The image has too many pixels.")) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise InvalidImage(gettext("The file is not a valid image.")) from exc
    return image


def validate(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of a valid upload, or InvalidImage. Decodes only safe images."""
    image = _open(data)
    fmt = image.format or ""
    if fmt not in ALLOWED_FORMATS:
        raise InvalidImage(gettext("Only JPEG, PNG and WEBP images are accepted."))
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise InvalidImage(
            gettext("The image has too many pixels (at most %(max)s MP).") % {"max": MAX_PIXELS // 1_000_000}
        )
    try:
        image.verify()
    except Exception as exc:  # Pillow raises many types for a damaged file
        raise InvalidImage(gettext("The image file is damaged.")) from exc
    # verify() leaves the image unusable; decoding every pixel proves the data is complete.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as full:
                full.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage(gettext("The image has too many pixels.")) from exc
        except Exception as exc:
            raise InvalidImage(gettext("The image file is damaged.")) from exc
    return fmt, width, height


def _rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


def process(upload) -> ProcessedImage:
    """Validate an upload and make its variants; raises InvalidImage and stores nothing."""
    data = _read(upload)
    fmt, width, height = validate(data)
    with Image.open(io.BytesIO(data)) as source:
        base = _rgb(source)
    thumb = base.copy()
    thumb.thumbnail(THUMB_BOX, Image.Resampling.LANCZOS)
    display = base
    if base.width > DISPLAY_WIDTH:
        display = base.resize(
            (DISPLAY_WIDTH, max(1, round(base.height * DISPLAY_WIDTH / base.width))), Image.Resampling.LANCZOS
        )
    cover = ImageOps.fit(base, SHARE_COVER, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    return ProcessedImage(
        format=fmt,
        extension=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        original=data,
        thumb=_jpeg(thumb),
        display=_jpeg(display),
        share_cover=_jpeg(cover),
    )
