"""apps.core.rawsql: inserts and joined reads compiled once, with the ORM's own values and types."""

from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core import rawsql
from apps.shop.models import Brand, Category, Product
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_an_insert_stores_what_save_would_and_sets_the_pk_and_auto_fields():
    brand = Brand(name="雅诗")

    assert rawsql.insert(brand) is True

    stored = Brand.objects.get(pk=brand.pk)
    assert (stored.name, str(stored.max_commission_rate), brand._state.adding) == ("雅诗", "30.00", False)


def test_an_insert_that_collides_on_the_named_key_answers_false_and_writes_nothing():
    Brand.objects.create(name="雅诗")
    again = Brand(name="雅诗")  # the name is unique

    assert rawsql.insert(again, conflict=("name",)) is False
    assert (again.pk, Brand.objects.filter(name="雅诗").count()) == (None, 1)


def test_a_joined_read_gives_instances_with_only_the_named_fields_and_none_for_a_missing_row():
    product = ProductFactory(title="面霜", description="一段很长的介绍")
    part = (Product, ("title", "brand"))
    sql = (
        f"SELECT {rawsql.columns('p', part)}, {rawsql.columns('c', Category)}, 7 "
        f"FROM {Product._meta.db_table} p LEFT JOIN {Category._meta.db_table} c ON c.id = -1 "
        "WHERE p.id = %s"
    )

    (read, category), rest = rawsql.read_joined(sql, [product.pk], (part, Category))

    assert (read.pk, read.title, read.brand_id, category, rest) == (
        product.pk,
        "面霜",
        product.brand_id,
        None,
        (7,),
    )
    assert read.get_deferred_fields() >= {"description", "category_id"}
    assert rawsql.read_joined(sql, [-1], (part, Category)) is None


@pytest.mark.postgres
def test_an_insert_from_a_source_casts_every_parameter_so_a_null_keeps_its_column_type():
    # INSERT ... SELECT gives a parameter no type: an untyped NULL would be text, refused by a
    # bigint column. Each one is cast to its column's type.
    product = Product(brand=Brand.objects.create(name="b"), category=Category.objects.create(name="c"))
    product.title = "x"
    sql, params = rawsql.insert_from(product, source="(SELECT 1) one")

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (pk,) = cursor.fetchone()

    rawsql.stored(product, pk)
    assert Product.objects.filter(pk=pk, title="x").exists()
    assert "::bigint" in sql


def _typed(values):
    # psycopg's JSON wrapper compares by identity: compare what it wraps
    return [(type(value), getattr(value, "obj", value)) for value in values]


def _save_params(obj):
    """What save() would send per inserted field: pre_save, then get_db_prep_save (the NULLs left
    out, as rawsql writes them into the text)."""
    prepared = (
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for field in rawsql._insert_fields(type(obj))
    )
    return _typed(value for value in prepared if value is not None)


def test_an_inserts_parameters_are_what_save_would_send_for_every_field_of_an_order_and_its_line():
    # The shortcuts (text and its enums, booleans, integers, foreign keys, NULLs, dates without
    # auto_now) must give exactly the full path's values, psycopg's integer wrappers included; a
    # value of another type (a number as text, a lazy translation) takes the full path and is
    # converted as save() converts it; created_at/updated_at (auto_now) are filled in.
    from django.utils.translation import gettext_lazy

    from apps.shop.models import Order, OrderItem
    from tests.accounts.factories import UserFactory

    order = Order(
        buyer=UserFactory(),
        no="20261202000000000001",
        total_fen=1234,
        paid_fen="0",  # text for an integer: int("0"), as save() would
        address={"name": "张三", "detail": "路 1 号"},
        receiver_phone="13800000000",
        shipping_hold=True,
        pay_deadline=datetime(2026, 12, 2, 8, 30, tzinfo=UTC),  # a date without auto_now: read as is
        cancel_reason=gettext_lazy("Cancelled"),
        attribution={},
    )
    line = OrderItem(order_id=7, sku_id=9, product_id=3, brand_id=2, category_id=1, title="面霜", spec="50ml")
    line.price_fen = line.line_fen = 990
    line.quantity = 1

    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 12, 2, 8, tzinfo=UTC)):
        for obj in (order, line):
            _sql, params = rawsql._statement(obj, (), None, {})
            assert _typed(params) == _save_params(obj)
            assert len(params) == (19 if obj is order else 12)


def test_a_joined_read_builds_the_instance_from_db_would_and_calls_init_when_someone_listens():
    from django.db.models.signals import post_init

    brand = Brand.objects.create(name="雅诗")
    sql = f"SELECT {rawsql.columns('b', Brand)} FROM {Brand._meta.db_table} b WHERE b.id = %s"
    expected = Brand.objects.get(pk=brand.pk)

    (fast,), _rest = rawsql.read_joined(sql, [brand.pk], (Brand,))

    def without_state(obj):
        return {name: value for name, value in vars(obj).items() if name != "_state"}

    assert (without_state(fast), fast._state.adding, fast._state.db) == (
        without_state(expected),
        False,
        "default",
    )
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listener, sender=Brand)
    try:
        (heard,), _rest = rawsql.read_joined(sql, [brand.pk], (Brand,))
    finally:
        post_init.disconnect(listener, sender=Brand)
    assert (seen, without_state(heard)) == ([heard], without_state(expected))


def test_a_part_of_a_model_with_a_file_field_is_built_without_init_when_the_file_is_not_read():
    # Only the fields read decide: a deferred field's attribute is never set. A brand's logo is
    # a file (its attribute wraps what is assigned), so the whole model goes through __init__.
    descriptors = {type(getattr(Brand, f.attname)).__name__ for f in Brand._meta.concrete_fields}
    assert descriptors & {"FileDescriptor", "ImageFileDescriptor"}
    assert (rawsql._plain_part((Brand, ("is_active",))), rawsql._plain_part(Brand)) == (True, False)


def test_link_attaches_the_related_object_as_select_related_does():
    product = ProductFactory()
    sql = (
        f"SELECT {rawsql.columns('p', Product)}, {rawsql.columns('b', Brand)} "
        f"FROM {Product._meta.db_table} p JOIN {Brand._meta.db_table} b ON b.id = p.brand_id WHERE p.id = %s"
    )
    (read, brand), _rest = rawsql.read_joined(sql, [product.pk], (Product, Brand))

    rawsql.link(read, "brand", brand)

    with CaptureQueriesContext(connection) as queries:
        assert read.brand is brand
    assert len(queries) == 0
