"""Benchmark (not a test): the hot public reads against bare Django views running the same SQL.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/reads REDIS_URL=redis://127.0.0.1:6379/4
    export DJANGO_SETTINGS_MODULE=config.settings.local DEBUG=0
    python manage.py bench_reads --products 10000 --requests 2000 --rounds 5

Four reads: `GET products/{id}`, `GET products` (four list URLs: pages, a brand, by sales),
`GET share-links/{code}` (an anonymous viewer coming back: the visit is counted in Redis, nothing
written) and `GET groups/{id}`. For each, the project's endpoint and a baseline run alternately,
`--rounds` times `--requests` requests each, through the same in-process WSGI handler (URL
routing, the whole middleware stack, the response): the baseline is a plain function view that
runs the project's queries as hand-written SQL with `connection.cursor()` and answers
`json.dumps` of the rows. Before timing, each baseline answer is checked byte for byte against
the project's (the command stops if one differs). Printed per read: the project with its cache
(warm: every key read once before the clock starts), the project with READ_CACHE off (every
answer built from the database, as before the cache), the baseline, in requests per second,
and the ratios project / baseline.

The data (brands, products with SKUs and pictures, campaigns, groups with paid members, share
links) is made once per `--products` size, tagged, and reused by later runs of that size. The
requests cycle over `--hot` objects of each kind (a hot set: the objects being shared).
"""

from __future__ import annotations

import io
import json
import random
import sys
import time
from datetime import UTC, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.http import Http404, HttpResponse
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import include, path
from django.utils import timezone
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.core import readcache

PAGE_SIZE = 20

# --- the baseline: bare views, the project's queries by hand ------------------------------------


def _media(name: str) -> str | None:
    if not name:
        return None
    url = default_storage.url(name)
    return url if url.startswith(("http://", "https://")) else f"{settings.PUBLIC_BASE_URL}{url}"


def _aware(value):
    """A row's datetime as PostgreSQL answers it (SQLite answers naive UTC, or text)."""
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _when(value) -> str:
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json(data) -> HttpResponse:
    body = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(body.encode(), content_type="application/json")


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_PRODUCTS = """
    SELECT p.id, p.title, p.description, p.sales, b.id, b.name,
           MIN(CASE WHEN s.is_active THEN s.price_fen END) AS price_fen
    FROM shop_product p
    INNER JOIN shop_brand b ON p.brand_id = b.id
    LEFT OUTER JOIN shop_sku s ON p.id = s.product_id
    WHERE b.is_active AND p.is_active {where}
    GROUP BY p.id, b.id
    HAVING MIN(CASE WHEN s.is_active THEN s.price_fen END) IS NOT NULL
"""
_ORDERINGS = {"": "p.id DESC", "-sales": "p.sales DESC, p.id DESC"}


def _in(ids) -> str:
    return ", ".join(["%s"] * len(ids))


def _covers(ids: list[int]) -> dict[int, list[tuple]]:
    images: dict[int, list[tuple]] = {pk: [] for pk in ids}
    for product_id, display, share_cover in _rows(
        "SELECT product_id, display, share_cover FROM shop_productimage "  # noqa: S608 (placeholders)
        f"WHERE product_id IN ({_in(ids)}) ORDER BY position, id",
        ids,
    ):
        images[product_id].append((display, share_cover))
    return images


def _group_buys(ids: list[int]) -> dict[int, dict]:
    now = timezone.now()
    summaries: dict[int, dict] = {}
    for campaign_id, product_id, price, size, starts_at in _rows(
        "SELECT id, product_id, group_price_fen, group_size, starts_at FROM groupbuys_campaign "  # noqa: S608
        f"WHERE product_id IN ({_in(ids)}) AND is_active AND ends_at > %s "
        "ORDER BY product_id, group_price_fen, id",
        [*ids, connection.ops.adapt_datetimefield_value(now)],
    ):
        if _aware(starts_at) <= now:
            summaries.setdefault(
                product_id, {"campaign_id": campaign_id, "group_price_fen": price, "group_size": size}
            )
    return summaries


def _item(row, images, group_buys) -> dict:
    pk, title, _description, sales, brand_id, brand_name, price = row
    first = images[pk][0] if images[pk] else None
    return {
        "id": pk,
        "title": title,
        "brand": {"id": brand_id, "name": brand_name},
        "cover_url": _media(first[0]) if first else None,
        "price_fen": price,
        "sales": sales,
        "group_buy": group_buys.get(pk),
    }


def baseline_product(request, product_id: int) -> HttpResponse:
    rows = _rows(_PRODUCTS.format(where="AND p.id = %s"), [product_id])
    if not rows:
        raise Http404
    images = _covers([product_id])
    skus = _rows(
        "SELECT id, spec, price_fen, stock FROM shop_sku WHERE is_active AND product_id IN (%s) "
        "ORDER BY price_fen, id",
        [product_id],
    )
    data = _item(rows[0], images, _group_buys([product_id]))
    first = images[product_id][0] if images[product_id] else None
    data["images"] = [_media(display) for display, _share in images[product_id]]
    data["share_cover_url"] = _media(first[1]) if first else None
    data["description"] = rows[0][2]
    data["skus"] = [
        {"id": pk, "spec": spec, "price_fen": price, "stock": stock} for pk, spec, price, stock in skus
    ]
    return _json(data)


def baseline_products(request) -> HttpResponse:
    page = int(request.GET.get("page", "1"))
    where, params = "", []
    if "brand" in request.GET:
        where, params = "AND p.brand_id = %s", [int(request.GET["brand"])]
    sql = _PRODUCTS.format(where=where)
    (count,) = _rows(f"SELECT COUNT(*) FROM ({sql}) counted", params)[0]  # noqa: S608 (fixed text)
    rows = _rows(
        f"{sql} ORDER BY {_ORDERINGS[request.GET.get('ordering', '')]} LIMIT %s OFFSET %s",
        [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE],
    )
    ids = [row[0] for row in rows]
    images, group_buys = (_covers(ids), _group_buys(ids)) if ids else ({}, {})
    # The links name the project's URL (the answers are compared byte for byte).
    url = request.build_absolute_uri().replace("/bench-baseline/", "/api/v1/", 1)
    last = max(1, -(-count // PAGE_SIZE))
    previous = None
    if page > 1:
        previous = (
            remove_query_param(url, "page") if page == 2 else replace_query_param(url, "page", page - 1)
        )
    return _json(
        {
            "count": count,
            "next": replace_query_param(url, "page", page + 1) if page < last else None,
            "previous": previous,
            "results": [_item(row, images, group_buys) for row in rows],
        }
    )


def baseline_share_link(request, code: str) -> HttpResponse:
    rows = _rows(
        "SELECT l.code, l.target, l.target_id, l.title, l.image_url, l.page, u.nickname, u.avatar_url "
        "FROM sharing_sharelink l INNER JOIN accounts_user u ON l.sharer_id = u.id WHERE l.code = %s",
        [code],
    )
    if not rows:
        raise Http404
    code, target, target_id, title, image_url, page, nickname, avatar_url = rows[0]
    return _json(
        {
            "code": code,
            "target": target,
            "target_id": target_id,
            "sharer": {"nickname": nickname or "微信用户", "avatar_url": avatar_url},
            "title": title,
            "image_url": image_url,
            "path": f"/{page}?{urlencode({'id': target_id, 'share_code': code})}",
        }
    )


def baseline_group(request, group_id: int) -> HttpResponse:
    rows = _rows(
        "SELECT id, campaign_id, status, size, joined, paid_count, expires_at FROM groupbuys_group "
        "WHERE id = %s",
        [group_id],
    )
    if not rows:
        raise Http404
    pk, campaign_id, status, size, joined, paid_count, expires_at = rows[0]
    members = _rows(
        "SELECT m.is_leader, u.nickname, u.avatar_url FROM groupbuys_groupmember m "
        "INNER JOIN accounts_user u ON m.user_id = u.id WHERE m.status = 'paid' AND m.group_id IN (%s) "
        "ORDER BY m.is_leader DESC, m.paid_at, m.id",
        [group_id],
    )
    expires = _aware(expires_at)
    open_now = status == "forming" and expires > timezone.now()
    return _json(
        {
            "id": pk,
            "campaign_id": campaign_id,
            "status": status,
            "size": size,
            "joined": joined,
            "paid_count": paid_count,
            "seats_left": max(0, size - joined) if open_now else 0,
            "expires_at": _when(expires),
            "members": [
                {"nickname": nickname or "微信用户", "avatar_url": avatar, "is_leader": bool(leader)}
                for leader, nickname, avatar in members
            ],
        }
    )


# The baselines first: they are resolved before the project's whole URL list.
urlpatterns = [
    path("bench-baseline/products", baseline_products),
    path("bench-baseline/products/<int:product_id>", baseline_product),
    path("bench-baseline/share-links/<str:code>", baseline_share_link),
    path("bench-baseline/groups/<int:group_id>", baseline_group),
    path("", include(settings.ROOT_URLCONF)),
]


# --- the data -----------------------------------------------------------------------------------


def seed(size: int, stdout) -> dict[str, list]:
    """The run's objects for `size` products (made once, then found by their tag)."""
    from apps.accounts.models import User
    from apps.groupbuys.models import Campaign, Group, GroupMember
    from apps.sharing import codes
    from apps.sharing.models import ShareLink
    from apps.shop.models import Brand, Category, Order, Product, ProductImage, Sku

    tag = f"bench-reads-{size}"
    brands = list(Brand.objects.filter(name__startswith=f"{tag}-").order_by("id"))
    if not brands:
        stdout.write(f"seeding {size} products (once per size) ...")
        began = time.perf_counter()
        rng = random.Random(size)
        now = timezone.now()
        with transaction.atomic():
            category = Category.objects.create(name=tag)
            brands = Brand.objects.bulk_create(
                [Brand(name=f"{tag}-{n}", intro="品牌介绍") for n in range(max(1, size // 100))]
            )
            products = Product.objects.bulk_create(
                [
                    Product(
                        brand=brands[n % len(brands)],
                        category=category,
                        title=f"压测商品 {n} 明前龙井 250g",
                        description="产地直发，当季新茶。" * 10,
                        sales=rng.randrange(0, 5000),
                    )
                    for n in range(size)
                ],
                batch_size=2000,
            )
            Sku.objects.bulk_create(
                [
                    Sku(product=p, spec=f"{grams}g", price_fen=grams * 40 + p.pk % 97, stock=1000)
                    for p in products
                    for grams in (100, 250, 500)
                ],
                batch_size=2000,
            )
            ProductImage.objects.bulk_create(
                [
                    ProductImage(
                        product=p,
                        position=n,
                        original=f"products/{p.pk}/{n}.jpg",
                        thumb=f"products/{p.pk}/{n}_thumb.jpg",
                        display=f"products/{p.pk}/{n}_750.jpg",
                        share_cover=f"products/{p.pk}/{n}_share.jpg",
                        width=1500,
                        height=1200,
                        format="JPEG",
                    )
                    for p in products
                    for n in range(3)
                ],
                batch_size=2000,
            )
            skus = {s.product_id: s for s in Sku.objects.filter(product__in=products, spec="250g")}
            campaigns = Campaign.objects.bulk_create(
                [
                    Campaign(
                        product=p,
                        sku=skus[p.pk],
                        group_price_fen=6900,
                        group_size=10,
                        duration_minutes=24 * 60,
                        starts_at=now - timedelta(days=1),
                        ends_at=now + timedelta(days=365),
                    )
                    for p in products[::10]
                ]
            )
            people = User.objects.bulk_create(
                [
                    User(
                        username=f"{tag}-u{n}", nickname=f"用户{n}", avatar_url=f"https://img.example/{n}.png"
                    )
                    for n in range(max(20, size // 10))
                ],
                batch_size=2000,
            )
            groups = Group.objects.bulk_create(
                [
                    Group(
                        campaign=campaigns[n % len(campaigns)],
                        leader=people[n % len(people)],
                        size=10,
                        joined=8,
                        paid_count=8,
                        expires_at=now + timedelta(days=300),
                    )
                    for n in range(max(2, size // 20))
                ],
                batch_size=2000,
            )
            seats = [(g, people[(g.pk * 7 + k) % len(people)], k == 0) for g in groups for k in range(8)]
            orders = Order.objects.bulk_create(
                [
                    Order(
                        no=f"B{size}-{n}",
                        buyer=user,
                        kind="group_buy",
                        group_id=g.pk,
                        status="paid",
                        total_fen=6900,
                        paid_fen=6900,
                        pay_deadline=now,
                        paid_at=now,
                    )
                    for n, (g, user, _leader) in enumerate(seats)
                ],
                batch_size=2000,
            )
            GroupMember.objects.bulk_create(
                [
                    GroupMember(
                        group=g,
                        user=user,
                        order=order,
                        is_leader=leader,
                        quantity=1,
                        unit_price_fen=6900,
                        status="paid",
                        paid_at=now,
                    )
                    for (g, user, leader), order in zip(seats, orders, strict=True)
                ],
                batch_size=2000,
            )
            links = []
            for n, p in enumerate(products[: max(2, size // 2)]):
                code = codes.new_code()
                links.append(
                    ShareLink(
                        code=code,
                        scene=codes.scene_for(code),
                        sharer=people[n % len(people)],
                        target="product",
                        target_id=p.pk,
                        title=p.title,
                        image_url=f"{settings.PUBLIC_BASE_URL}/media/products/{p.pk}/0_share.jpg",
                        page="pages/product/detail",
                    )
                )
            ShareLink.objects.bulk_create(links, batch_size=2000)
        readcache.bump_all()  # bulk_create sends no signals
        stdout.write(f"seeded in {time.perf_counter() - began:.1f}s")
    brand_ids = [b.pk for b in brands]
    products = list(
        Product.objects.filter(brand_id__in=brand_ids).order_by("id").values_list("id", flat=True)
    )
    groups = list(
        Group.objects.filter(campaign__product_id__in=products).order_by("id").values_list("id", flat=True)
    )
    links = list(
        ShareLink.objects.filter(target="product", target_id__in=products)
        .order_by("id")
        .values_list("code", flat=True)
    )
    return {"products": products, "groups": groups, "links": links, "brands": brand_ids}


# --- the runner ---------------------------------------------------------------------------------


class Wsgi:
    """Requests through Django's WSGI handler in this process, as a WSGI server would send them."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def get(self, url: str) -> tuple[int, bytes]:
        path_info, _, query = url.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1:8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "10.1.2.3",
            "HTTP_USER_AGENT": "bench_reads",
            "HTTP_ACCEPT": "application/json",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status = []
        response = self.handler(environ, lambda s, headers, exc_info=None: status.append(s))
        try:
            body = b"".join(response)
        finally:
            response.close()
        return int(status[0].split()[0]), body


def _timed(client: Wsgi, urls: list[str], count: int) -> float:
    began = time.perf_counter()
    for n in range(count):
        status, _body = client.get(urls[n % len(urls)])
        if status != 200:
            raise CommandError(f"{urls[n % len(urls)]} answered {status}")
    return time.perf_counter() - began


def _queries(client: Wsgi, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured.captured_queries)


class Command(BaseCommand):
    help = "Hot reads (product detail and list, share-link resolve, group detail) against bare views."

    def add_arguments(self, parser):
        parser.add_argument(
            "--products", type=int, default=10_000, help="catalogue size (made once per size)"
        )
        parser.add_argument(
            "--hot", type=int, default=200, help="objects of each kind the requests cycle over"
        )
        parser.add_argument("--requests", type=int, default=1000, help="requests per side per round")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument(
            "--only",
            choices=["product", "products", "share-link", "group"],
            action="append",
            help="one read (repeatable)",
        )

    def handle(self, *args, **options):
        if settings.DEBUG:
            self.stderr.write("DEBUG is on: every query is logged in memory; set DEBUG=0 for real figures")
        if options["products"] < 2 or options["requests"] < 1 or options["rounds"] < 1 or options["hot"] < 1:
            raise CommandError("--products must be 2 or more; --requests, --rounds and --hot 1 or more")
        data = seed(options["products"], self.stdout)
        rng = random.Random(1)
        hot = options["hot"]
        products = rng.sample(data["products"], min(hot, len(data["products"])))
        groups = rng.sample(data["groups"], min(hot, len(data["groups"])))
        links = rng.sample(data["links"], min(hot, len(data["links"])))
        pages = max(1, min(5, len(data["products"]) // PAGE_SIZE))
        reads = {
            "product": ("GET products/{id}", [f"products/{pk}" for pk in products]),
            "products": (
                "GET products",
                [
                    "products",
                    *[f"products?page={n}" for n in range(2, pages + 1)],
                    "products?ordering=-sales",
                    f"products?brand={data['brands'][0]}",
                ],
            ),
            "share-link": ("GET share-links/{code}", [f"share-links/{code}" for code in links]),
            "group": ("GET groups/{id}", [f"groups/{pk}" for pk in groups]),
        }
        chosen = options["only"] or list(reads)
        client = Wsgi()
        rows = []
        with override_settings(ROOT_URLCONF=__name__):
            for name in chosen:
                label, tails = reads[name]
                rows.append(self.measure(client, label, tails, options["requests"], options["rounds"]))
        self.report(rows)

    def measure(self, client: Wsgi, label: str, tails: list[str], count: int, rounds: int) -> dict:
        project = [f"/api/v1/{tail}" for tail in tails]
        baseline = [f"/bench-baseline/{tail}" for tail in tails]
        uncached = override_settings(READ_CACHE=False)
        # The same answers, byte for byte, and the queries each side runs for one answer.
        for mine, theirs in zip(project, baseline, strict=True):
            with uncached:
                built = client.get(mine)
            cached = client.get(mine)
            again = client.get(mine)
            base = client.get(theirs)
            if not (built == cached == again == base):
                raise CommandError(f"{mine}: the answers differ\nproject  {again}\nbaseline {base}")
        with uncached:
            cold = _queries(client, project[0])
        warm = _queries(client, project[0])
        base_queries = _queries(client, baseline[0])
        times = {"cached": 0.0, "uncached": 0.0, "baseline": 0.0}
        for _round in range(rounds):
            times["baseline"] += _timed(client, baseline, count)
            times["cached"] += _timed(client, project, count)
            times["baseline"] += _timed(client, baseline, count)
            with uncached:
                times["uncached"] += _timed(client, project, count)
        done = count * rounds
        rate = {side: done * (2 if side == "baseline" else 1) / seconds for side, seconds in times.items()}
        return {
            "label": label,
            "cached": rate["cached"],
            "uncached": rate["uncached"],
            "baseline": rate["baseline"],
            "queries": (warm, cold, base_queries),
        }

    def report(self, rows: list[dict]) -> None:
        self.stdout.write(
            f"{'read':<24} {'cached':>9} {'uncached':>9} {'baseline':>9} {'cached/base':>12} "
            f"{'uncached/base':>14}  queries warm/cold/baseline"
        )
        for row in rows:
            warm, cold, base = row["queries"]
            self.stdout.write(
                f"{row['label']:<24} {row['cached']:>9.0f} {row['uncached']:>9.0f} {row['baseline']:>9.0f} "
                f"{row['cached'] / row['baseline']:>12.2f} {row['uncached'] / row['baseline']:>14.2f}  "
                f"{warm}/{cold}/{base}"
            )
        self.stdout.write("requests per second, one process, same WSGI handler and middleware for every side")
