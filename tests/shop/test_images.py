import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.shop import images
from apps.shop.models import ProductImage
from tests.helpers import bearer_client, error_code
from tests.shop.factories import ProductFactory, png_bytes


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 100-byte PNG whose header claims 10 gigapixels: decoding it would eat the server."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def upload(client, product_id, content: bytes, name: str = "photo.png", content_type: str = "image/png"):
    return client.post(
        f"/api/v1/ops/products/{product_id}/images",
        {"image": SimpleUploadedFile(name, content, content_type=content_type)},
        format="multipart",
    )


@pytest.mark.django_db
def test_upload_stores_the_original_and_its_variants(ops_client, _media_in_tmp):
    product = ProductFactory()

    response = upload(ops_client, product.pk, png_bytes(1600, 900), "tea.png")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["format"]) == (1600, 900, "PNG")
    image = ProductImage.objects.get(pk=body["id"])
    with Image.open(image.thumb.path) as thumb:
        assert thumb.size == (200, 113)  # 112.5 rounded
    with Image.open(image.display.path) as display:
        assert display.size == (750, 422)
    with Image.open(image.share_cover.path) as cover:
        assert cover.size == (500, 400)
        assert cover.format == "JPEG"
    assert image.original.name.endswith(".png")
    assert len(stored_files(_media_in_tmp)) == 4
    assert body["share_cover_url"].endswith("_share.jpg")


@pytest.mark.django_db
def test_a_small_picture_is_not_upscaled_and_transparency_becomes_white(ops_client):
    product = ProductFactory()
    out = io.BytesIO()
    Image.new("RGBA", (300, 100), (0, 0, 0, 0)).save(out, format="PNG")

    response = upload(ops_client, product.pk, out.getvalue())

    image = ProductImage.objects.get(pk=response.json()["id"])
    with Image.open(image.display.path) as display:
        assert display.size == (300, 100)
        assert display.getpixel((10, 10)) == (255, 255, 255)
    with Image.open(image.share_cover.path) as cover:
        assert cover.size == (500, 400)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"hello, I am a text file pretending to be a picture\n" * 10, "photo.png"),
        (bomb_png(), "bomb.png"),
        (png_bytes()[:60], "truncated.png"),
        (b"", "empty.png"),
    ],
    ids=["renamed-text-file", "decompression-bomb", "truncated", "empty"],
)
def test_bad_uploads_are_a_clear_400_and_nothing_is_stored(ops_client, _media_in_tmp, content, name):
    product = ProductFactory()

    response = upload(ops_client, product.pk, content, name)

    assert response.status_code == 400
    assert error_code(response) in {"invalid_image", "validation_error"}
    assert response.json()["error"]["message"]
    assert ProductImage.objects.count() == 0
    assert stored_files(_media_in_tmp) == []


@pytest.mark.django_db
def test_the_bomb_and_the_text_file_answer_invalid_image(ops_client):
    product = ProductFactory()

    bomb = upload(ops_client, product.pk, bomb_png(), "bomb.png")
    text = upload(ops_client, product.pk, b"just text " * 50, "photo.jpg", "image/jpeg")

    assert (bomb.status_code, error_code(bomb)) == (400, "invalid_image")
    assert bomb.json()["error"]["message"].startswith("图片像素过多")
    assert (text.status_code, error_code(text)) == (400, "invalid_image")
    assert text.json()["error"]["message"] == "文件不是有效的图片"


@pytest.mark.django_db
def test_a_real_but_too_large_picture_is_refused_before_decoding(ops_client, _media_in_tmp, monkeypatch):
    # given: a genuine PNG of 3000x2000 (6 MP) under a 5 MP limit
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000_000)
    product = ProductFactory()

    response = upload(ops_client, product.pk, png_bytes(3000, 2000))

    assert (response.status_code, error_code(response)) == (400, "invalid_image")
    assert ProductImage.objects.count() == 0
    assert stored_files(_media_in_tmp) == []


@pytest.mark.django_db
def test_formats_other_than_jpeg_png_webp_are_refused(ops_client):
    product = ProductFactory()
    gif = io.BytesIO()
    Image.new("RGB", (20, 20)).save(gif, format="GIF")

    gif_response = upload(ops_client, product.pk, gif.getvalue(), "a.gif", "image/gif")
    webp_response = upload(ops_client, product.pk, png_bytes(fmt="WEBP"), "a.webp", "image/webp")
    jpeg_response = upload(ops_client, product.pk, png_bytes(fmt="JPEG"), "a.jpg", "image/jpeg")

    assert (gif_response.status_code, error_code(gif_response)) == (400, "invalid_image")
    assert webp_response.status_code == 201
    assert jpeg_response.status_code == 201
    assert ProductImage.objects.count() == 2


@pytest.mark.django_db
def test_too_many_bytes_is_refused(ops_client, monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    product = ProductFactory()

    response = upload(ops_client, product.pk, _noisy_png())

    assert (response.status_code, error_code(response)) == (400, "invalid_image")
    assert response.json()["error"]["message"].startswith("图片不能超过")


def _noisy_png() -> bytes:
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.django_db
def test_only_operators_upload_and_unknown_products_are_404(shopper, ops_client):
    product = ProductFactory()

    as_shopper = upload(bearer_client(shopper), product.pk, png_bytes())
    unknown = upload(ops_client, 999999, png_bytes())

    assert as_shopper.status_code == 403
    assert unknown.status_code == 404
    assert ProductImage.objects.count() == 0
