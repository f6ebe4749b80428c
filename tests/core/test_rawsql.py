"""apps.core.rawsql: inserts and joined reads compiled once, with the ORM's own values and types."""

import pytest
from django.db import connection

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
