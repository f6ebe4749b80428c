import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.shop import catalogue_hooks, selectors, services
from apps.shop.models import Product
from tests.helpers import error_code
from tests.shop.factories import BrandFactory, CategoryFactory, ProductFactory, SkuFactory, png_bytes


@pytest.fixture
def group_buy_provider():
    """A provider answering for the first product of the page, with one query, as the hook asks."""
    calls = []

    def provider(product_ids):
        calls.append(list(product_ids))
        first = Product.objects.filter(pk__in=product_ids).order_by("pk").values_list("pk", flat=True)[:1]
        return {pid: {"campaign_id": 7, "group_price_fen": 6900, "group_size": 3} for pid in first}

    previous = catalogue_hooks.get_group_buy_summary_provider()
    catalogue_hooks.set_group_buy_summary_provider(provider)
    yield calls
    catalogue_hooks.set_group_buy_summary_provider(previous)


@pytest.fixture
def no_group_buy_provider():
    previous = catalogue_hooks.get_group_buy_summary_provider()
    catalogue_hooks.set_group_buy_summary_provider(None)
    yield
    catalogue_hooks.set_group_buy_summary_provider(previous)


@pytest.mark.django_db
def test_brands_list_and_detail(api_client):
    brand = BrandFactory(name="山野茶 Shanye Tea", intro="好茶")
    BrandFactory(name="停用品牌", is_active=False)

    listing = api_client.get("/api/v1/brands").json()
    detail = api_client.get(f"/api/v1/brands/{brand.pk}")

    assert listing["count"] == 1
    assert listing["results"] == [
        {"id": brand.pk, "name": "山野茶 Shanye Tea", "logo_url": None, "intro": "好茶"}
    ]
    assert detail.json()["name"] == "山野茶 Shanye Tea"
    assert api_client.get("/api/v1/brands/999999").status_code == 404


@pytest.mark.django_db
def test_categories_answer_the_tree_in_one_query(api_client, django_assert_num_queries):
    tea = CategoryFactory(name="茶饮")
    green = CategoryFactory(name="绿茶", parent=tea)
    CategoryFactory(name="龙井", parent=green)
    CategoryFactory(name="红茶", parent=tea)
    CategoryFactory(name="器具")

    with django_assert_num_queries(1):
        tree = api_client.get("/api/v1/categories").json()

    assert [(node["name"], [c["name"] for c in node["children"]]) for node in tree] == [
        ("器具", []),
        ("茶饮", ["红茶", "绿茶"]),
    ]
    assert tree[1]["children"][1]["children"][0]["name"] == "龙井"


@pytest.mark.django_db
def test_products_filter_by_brand_and_by_category_subtree(api_client):
    tea = CategoryFactory(name="茶饮")
    green = CategoryFactory(name="绿茶", parent=tea)
    longjing = CategoryFactory(name="龙井", parent=green)
    other = CategoryFactory(name="器具")
    brand = BrandFactory()
    in_leaf = SkuFactory(product=ProductFactory(category=longjing, brand=brand)).product
    in_middle = SkuFactory(product=ProductFactory(category=green)).product
    elsewhere = SkuFactory(product=ProductFactory(category=other, brand=brand)).product

    def ids(query):
        return sorted(p["id"] for p in api_client.get(f"/api/v1/products?{query}").json()["results"])

    assert ids(f"category={tea.pk}") == sorted([in_leaf.pk, in_middle.pk])
    assert ids(f"category={green.pk}") == sorted([in_leaf.pk, in_middle.pk])
    assert ids(f"category={longjing.pk}") == [in_leaf.pk]
    assert ids(f"brand={brand.pk}") == sorted([in_leaf.pk, elsewhere.pk])
    assert ids(f"brand={brand.pk}&category={tea.pk}") == [in_leaf.pk]
    assert ids("category=987654") == []


@pytest.mark.django_db
def test_products_search_ordering_and_hidden_products(api_client):
    cheap = SkuFactory(product=ProductFactory(title="明前龙井 250g"), price_fen=5000).product
    dear = SkuFactory(product=ProductFactory(title="大红袍"), price_fen=20000).product
    SkuFactory(product=dear, price_fen=15000)  # the product's price is its lowest SKU price
    SkuFactory(product=dear, price_fen=100, is_active=False)  # an inactive SKU does not count
    popular = SkuFactory(
        product=ProductFactory(title="白茶", description="福鼎龙井味"), price_fen=8000
    ).product
    popular.sales = 50
    popular.save()
    SkuFactory(product=ProductFactory(title="下架龙井", is_active=False))
    ProductFactory(title="没有 SKU 的龙井")

    def titles(query):
        return [
            (p["title"], p["price_fen"])
            for p in api_client.get(f"/api/v1/products?{query}").json()["results"]
        ]

    assert titles("q=龙井") == [("白茶", 8000), ("明前龙井 250g", 5000)]
    assert titles("ordering=price_fen") == [("明前龙井 250g", 5000), ("白茶", 8000), ("大红袍", 15000)]
    assert titles("ordering=-price_fen") == [("大红袍", 15000), ("白茶", 8000), ("明前龙井 250g", 5000)]
    assert titles("ordering=-sales")[0] == ("白茶", 8000)
    assert cheap.pk != dear.pk
    bad = api_client.get("/api/v1/products?ordering=title")
    assert bad.status_code == 400
    assert error_code(bad) == "validation_error"


@pytest.mark.django_db
def test_product_list_shape_with_group_buy_null_without_provider(api_client, no_group_buy_provider):
    sku = SkuFactory(price_fen=9900)
    product = sku.product
    services.product_image_add(product=product, upload=SimpleUploadedFile("a.png", png_bytes(), "image/png"))

    result = api_client.get("/api/v1/products").json()["results"][0]

    assert set(result) == {"id", "title", "brand", "cover_url", "price_fen", "sales", "group_buy"}
    assert result["brand"] == {"id": product.brand_id, "name": product.brand.name}
    assert result["group_buy"] is None
    assert result["price_fen"] == 9900
    assert result["cover_url"].startswith("http://127.0.0.1:8000/media/products/")
    assert result["cover_url"].endswith("_750.jpg")


@pytest.mark.django_db
def test_group_buy_summary_comes_from_the_hook_in_one_call_per_page(api_client, group_buy_provider):
    products = [SkuFactory().product for _ in range(3)]

    results = api_client.get("/api/v1/products").json()["results"]

    assert len(group_buy_provider) == 1
    assert sorted(group_buy_provider[0]) == sorted(p.pk for p in products)
    with_group = [r for r in results if r["group_buy"]]
    assert len(with_group) == 1
    assert with_group[0]["group_buy"] == {"campaign_id": 7, "group_price_fen": 6900, "group_size": 3}


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 20])
@pytest.mark.parametrize(("hook", "queries"), [("no_group_buy_provider", 3), ("group_buy_provider", 4)])
def test_product_list_runs_a_fixed_number_of_queries(
    request, api_client, django_assert_num_queries, page_size, hook, queries
):
    request.getfixturevalue(hook)
    # given: 25 products, each with two SKUs and two pictures, across brands and categories
    for _ in range(25):
        sku = SkuFactory()
        SkuFactory(product=sku.product, price_fen=5000)
        for _ in range(2):
            services.product_image_add(
                product=sku.product, upload=SimpleUploadedFile("a.png", png_bytes(40, 30), "image/png")
            )

    # then: count, page, pictures (and the group-buy hook's one query) — whatever the page size
    with django_assert_num_queries(queries):
        response = api_client.get(f"/api/v1/products?page_size={page_size}&ordering=price_fen")

    assert len(response.json()["results"]) == page_size
    assert all(r["cover_url"] for r in response.json()["results"])


@pytest.mark.django_db
def test_product_detail_has_images_skus_and_share_cover(api_client):
    sku = SkuFactory(spec="250g", price_fen=9900, stock=1000)
    SkuFactory(product=sku.product, spec="停售", is_active=False)
    services.product_image_add(
        product=sku.product, upload=SimpleUploadedFile("a.png", png_bytes(), "image/png")
    )

    detail = api_client.get(f"/api/v1/products/{sku.product_id}").json()

    assert detail["skus"] == [{"id": sku.pk, "spec": "250g", "price_fen": 9900, "stock": 1000}]
    assert len(detail["images"]) == 1
    assert detail["share_cover_url"].endswith("_share.jpg")
    assert detail["description"] == "描述"
    assert api_client.get("/api/v1/products/999999").status_code == 404


@pytest.mark.django_db
def test_product_card_for_share_links():
    sku = SkuFactory(price_fen=9900)
    services.product_image_add(
        product=sku.product, upload=SimpleUploadedFile("a.png", png_bytes(), "image/png")
    )

    card = selectors.product_card(product_id=sku.product_id)

    assert card["price_fen"] == 9900
    assert card["share_image_url"].endswith("_share.jpg")
    assert selectors.product_card(product_id=999999) is None
