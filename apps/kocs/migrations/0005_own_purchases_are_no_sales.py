"""A KOC's purchase through her own link was recorded as her sale and counted towards tiers (own and
team sales). Remove those rows from the read model; the nightly tier pass then applies the
downgrade policy to any level that rested on them."""

from django.db import migrations

CHUNK = 1000


def remove_own_purchases(apps, schema_editor):
    KocSale = apps.get_model("kocs", "KocSale")
    KocOrderLine = apps.get_model("kocs", "KocOrderLine")
    Order = apps.get_model("shop", "Order")

    sales = list(KocSale.objects.order_by("pk").values_list("pk", "order_id", "koc_id", "koc__user_id"))
    for start in range(0, len(sales), CHUNK):
        chunk = sales[start : start + CHUNK]
        orders = {
            pk: (buyer_id, attribution or {})
            for pk, buyer_id, attribution in Order.objects.filter(
                pk__in=[order_id for _, order_id, _, _ in chunk]
            ).values_list("pk", "buyer_id", "attribution")
        }
        own = []
        for sale_id, order_id, koc_id, user_id in chunk:
            buyer_id, attribution = orders.get(order_id, (None, {}))
            if attribution.get("self_purchase") or (user_id is not None and buyer_id == user_id):
                own.append((sale_id, order_id, koc_id))
        if own:
            KocSale.objects.filter(pk__in=[sale_id for sale_id, _, _ in own]).delete()
            for _, order_id, koc_id in own:
                KocOrderLine.objects.filter(kind="sale", order_id=order_id, koc_id=koc_id).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("kocs", "0004_tier_policy_downgrades_and_holds"),
        ("shop", "0002_brand_operator_ship_permission"),
    ]

    operations = [migrations.RunPython(remove_own_purchases, migrations.RunPython.noop)]
