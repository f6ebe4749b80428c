"""Links counted refunded orders in `orders` and `gmv_fen`. Take each counted order's refunds from
the shop's order, then recount every link from its rows: orders not refunded in full, and GMV
paid minus refunded."""

from django.db import migrations
from django.db.models import Count, F, Q, Sum

CHUNK = 1000


def recount(apps, schema_editor):
    ShareLink = apps.get_model("sharing", "ShareLink")
    ShareLinkOrder = apps.get_model("sharing", "ShareLinkOrder")
    Order = apps.get_model("shop", "Order")

    rows = list(ShareLinkOrder.objects.order_by("pk").values_list("pk", "order_id", "paid_fen"))
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        refunded = dict(
            Order.objects.filter(pk__in=[order_id for _, order_id, _ in chunk], refunded_fen__gt=0).values_list(
                "pk", "refunded_fen"
            )
        )
        for pk, order_id, paid_fen in chunk:
            if order_id in refunded:
                ShareLinkOrder.objects.filter(pk=pk).update(refunded_fen=min(refunded[order_id], paid_fen))

    counted = (
        ShareLinkOrder.objects.values("link_id")
        .order_by()
        .annotate(
            orders=Count("pk", filter=Q(refunded_fen=0) | Q(refunded_fen__lt=F("paid_fen"))),
            gmv=Sum(F("paid_fen") - F("refunded_fen")),
        )
    )
    for row in counted:
        ShareLink.objects.filter(pk=row["link_id"]).update(orders=row["orders"], gmv_fen=row["gmv"] or 0)


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0002_attribution_policy_and_link_refunds"),
        ("shop", "0002_brand_operator_ship_permission"),
    ]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
