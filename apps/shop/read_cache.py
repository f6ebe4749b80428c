"""The catalogue's cached answers (`GET products`, `GET products/{id}`) and what invalidates them.

The scheme is apps.core.readcache's: answers stored with the generation tokens they were built
under, writes giving those generations new tokens after commit. The catalogue's generations:

- `rc:p:<id>`, one product's detail: the product, its SKUs (price, stock, on/off, spec), its
  pictures, its group-buy campaigns, its sales;
- `rc:catalogue`, every list page: any product, SKU (except stock, which lists do not show),
  picture, category or campaign, and sales (shown and sorted on);
- the global one (readcache.ALL) for a brand: its name is on every product of it, and a brand
  switched off hides them all.

Model saves and deletes (the admin, seeds, services that save) are caught by the signals below;
the services that move counters with UPDATE call `stock_changed` / `sales_changed` themselves.
Orders never trust a cached answer: stock is taken by a conditional UPDATE in the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save

from apps.core import readcache

from .models import Brand, Category, Product, ProductImage, Sku

CATALOGUE = "rc:catalogue"


def product_gen(product_id: int) -> str:
    return f"rc:p:{product_id}"


def product_detail_key(product_id: int) -> str:
    return f"rc:body:product:{product_id}"


def product_list_key(absolute_uri: str) -> str:
    """A list page's key: its whole URL (the answer's `next`/`previous` links are built from it)."""
    return f"rc:body:products:{hashlib.sha256(absolute_uri.encode()).hexdigest()[:32]}"


def stock_changed(product_ids: Iterable[int]) -> None:
    """Stock moved (an order, a cancellation, a refund of unshipped goods): the details only."""
    readcache.bump(product_gen(pk) for pk in set(product_ids))


def sales_changed(product_ids: Iterable[int]) -> None:
    readcache.bump([CATALOGUE, *(product_gen(pk) for pk in set(product_ids))])


def products_changed(product_ids: Iterable[int]) -> None:
    """Anything else about these products (a campaign, a picture, a price): details and lists."""
    readcache.bump([CATALOGUE, *(product_gen(pk) for pk in set(product_ids))])


def _product_saved(sender, instance: Product, **kwargs) -> None:
    products_changed([instance.pk])


def _child_saved(sender, instance: Sku | ProductImage, **kwargs) -> None:
    products_changed([instance.product_id])


def _brand_saved(sender, instance: Brand, **kwargs) -> None:
    readcache.bump_all()


def _category_saved(sender, instance: Category, **kwargs) -> None:
    readcache.bump([CATALOGUE])


for _signal in (post_save, post_delete):
    _signal.connect(_product_saved, sender=Product, dispatch_uid=f"rc-product-{_signal is post_save}")
    _signal.connect(_child_saved, sender=Sku, dispatch_uid=f"rc-sku-{_signal is post_save}")
    _signal.connect(_child_saved, sender=ProductImage, dispatch_uid=f"rc-image-{_signal is post_save}")
    _signal.connect(_brand_saved, sender=Brand, dispatch_uid=f"rc-brand-{_signal is post_save}")
    _signal.connect(_category_saved, sender=Category, dispatch_uid=f"rc-category-{_signal is post_save}")
