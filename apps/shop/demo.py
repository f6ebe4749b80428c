"""Demo catalogue (docs/api.md): 山野茶 Shanye Tea, 明前龙井 250g (9900 fen, stock 1000), with a real picture.

The picture is drawn here with Pillow (a tea-green gradient with a leaf): no download, and it goes
through the same upload service as an operator's picture, variants and share cover included.
Idempotent: a second run finds everything and changes nothing (stock included).
"""

from __future__ import annotations

import io
import math

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from . import services
from .models import Brand, Category, Product, Sku

ORDER = 10

BRAND = "山野茶 Shanye Tea"
PRODUCT = "明前龙井 250g"


def tea_picture(width: int = 1000, height: int = 800) -> bytes:
    """A PNG: a soft tea-green gradient with a leaf, its midrib and veins."""
    image = Image.new("RGB", (width, height))
    top, bottom = (232, 243, 222), (146, 190, 120)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line(
            [(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    cx, cy, length, half_width = width / 2, height / 2, width * 0.55, height * 0.2
    angle = math.radians(-25)

    def rotate(x: float, y: float) -> tuple[float, float]:
        return (
            cx + x * math.cos(angle) - y * math.sin(angle),
            cy + x * math.sin(angle) + y * math.cos(angle),
        )

    steps = 60
    upper = [
        (length * (i / steps - 0.5), -half_width * math.sin(math.pi * i / steps)) for i in range(steps + 1)
    ]
    lower = [(x, -y) for x, y in reversed(upper)]
    draw.polygon([rotate(x, y) for x, y in upper + lower], fill=(62, 128, 62), outline=(40, 92, 44))
    draw.line([rotate(-length / 2, 0), rotate(length / 2, 0)], fill=(190, 222, 170), width=6)
    for i in range(1, 6):
        start, end = i / 6 - 0.04, i / 6 + 0.06  # veins lean towards the tip, ending inside the edge
        reach = half_width * math.sin(math.pi * end) * 0.75
        for sign in (-1, 1):
            draw.line(
                [rotate(length * (start - 0.5), 0), rotate(length * (end - 0.5), sign * reach)],
                fill=(160, 204, 140),
                width=3,
            )
    draw.line([rotate(-length / 2, 0), rotate(-length / 2 - 60, 25)], fill=(40, 92, 44), width=8)  # the stem
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def seed(stdout) -> None:
    brand, _ = Brand.objects.get_or_create(
        name=BRAND,
        defaults={"intro": "来自杭州西湖产区的明前春茶，手工炒制。", "max_commission_rate": "30.00"},
    )
    tea = Category.objects.filter(name="茶饮", parent=None).first() or Category.objects.create(name="茶饮")
    green = Category.objects.filter(name="绿茶", parent=tea).first() or Category.objects.create(
        name="绿茶", parent=tea
    )
    product, _ = Product.objects.get_or_create(
        title=PRODUCT,
        brand=brand,
        defaults={
            "category": green,
            "description": "清明前采摘的龙井嫩芽，豆香清雅，汤色嫩绿明亮。250g 罐装。",
        },
    )
    Sku.objects.get_or_create(product=product, spec="250g", defaults={"price_fen": 9900, "stock": 1000})
    if not product.images.exists():
        services.product_image_add(
            product=product,
            upload=SimpleUploadedFile("longjing.png", tea_picture(), content_type="image/png"),
        )
    stdout.write(f"shop: {brand.name} / {product.title}")
