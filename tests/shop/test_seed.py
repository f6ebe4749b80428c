import io

import pytest
from PIL import Image

from apps.shop import demo
from apps.shop.models import Brand, Product, ProductImage, Sku


@pytest.mark.django_db
def test_seed_adds_the_demo_catalogue_once_with_a_real_picture():
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())

    brand = Brand.objects.get()
    product = Product.objects.get()
    sku = Sku.objects.get()
    assert brand.name == "山野茶 Shanye Tea"
    assert (product.title, product.brand_id) == ("明前龙井 250g", brand.pk)
    assert product.category.parent.name == "茶饮"
    assert (sku.spec, sku.price_fen, sku.stock) == ("250g", 9900, 1000)
    image = ProductImage.objects.get()
    with Image.open(image.original.path) as original:
        assert (original.format, original.size) == ("PNG", (1000, 800))
        # a picture, not a flat colour: the leaf and the gradient give many colours
        assert len(original.convert("RGB").getcolors(maxcolors=1_000_000)) > 100
    with Image.open(image.share_cover.path) as cover:
        assert cover.size == (500, 400)


@pytest.mark.django_db
def test_a_second_seed_keeps_the_stock_that_orders_took():
    demo.seed(io.StringIO())
    Sku.objects.update(stock=990)

    demo.seed(io.StringIO())

    assert Sku.objects.get().stock == 990
