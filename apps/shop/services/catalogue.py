"""Catalogue writes: product images (validated and resized at upload)."""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max

from .. import images
from ..models import Product, ProductImage


def product_image_add(*, product: Product, upload, position: int | None = None) -> ProductImage:
    """Validate `upload`, store it with its variants, and add it to the product's pictures.

    Validation runs before anything is written, so a refused upload leaves no row and no file;
    files written before a failing insert are deleted again.
    """
    processed = images.process(upload)
    stem = f"{uuid.uuid4().hex}"
    image = ProductImage(
        product=product, width=processed.width, height=processed.height, format=processed.format
    )
    if position is None:
        last = ProductImage.objects.filter(product=product).aggregate(m=Max("position"))["m"]
        position = 0 if last is None else last + 1
    image.position = position
    files = [
        (image.original, f"{stem}.{processed.extension}", processed.original),
        (image.thumb, f"{stem}_thumb.jpg", processed.thumb),
        (image.display, f"{stem}_750.jpg", processed.display),
        (image.share_cover, f"{stem}_share.jpg", processed.share_cover),
    ]
    written: list[tuple] = []
    try:
        for field_file, name, content in files:
            field_file.save(name, ContentFile(content), save=False)
            written.append((field_file.storage, field_file.name))
        with transaction.atomic():
            image.save()
    except BaseException:
        for storage, name in written:
            storage.delete(name)
        raise
    return image


def product_image_delete(*, image: ProductImage) -> None:
    names = [
        (f.storage, f.name) for f in (image.original, image.thumb, image.display, image.share_cover) if f
    ]
    with transaction.atomic():
        image.delete()
    for storage, name in names:
        storage.delete(name)
