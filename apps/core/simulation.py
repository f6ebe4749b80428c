"""`manage.py simulate`: days of the product driven through its public API against the sandbox.

A simulated clock (time-machine: Django, the sandbox's signatures and timestamps, the cache and the
JWTs all see it) moves an hour at a time. Each hour shoppers log in, share, order, open and join
groups, pay (or not), cancel, ask for refunds and confirm receipt; operators ship, decide refunds
and retry failed ones; KOCs apply, withdraw, confirm or cancel their transfers; then the beat's
sweepers run as they would. With `chaos`, the sandbox injects WeChat's failures (sandbox/faults.py)
at that rate. After the last day WeChat is left to behave, operators finish what is theirs (decide
the requests, ship what is paid) and the clock runs on, sweeping, until nothing changes. Then the
invariants are checked; `run()` answers them with the counts.

Randomness comes from one `random.Random(seed)`; the sandbox's chaos draws from the same seed. A
run is repeatable as far as the database's ids and the sandbox's random numbers let it be (they
do not decide anything the invariants look at).
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone

SANDBOX = "/wechat-sandbox"


@dataclass
class Invariant:
    name: str
    held: bool
    detail: str = ""


@dataclass
class Report:
    seed: int
    days: int
    chaos: float
    counts: Counter = field(default_factory=Counter)
    faults: dict[str, int] = field(default_factory=dict)
    invariants: list[Invariant] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(i.held for i in self.invariants)


class Simulation:
    def __init__(self, *, days: int, seed: int, chaos: float = 0.0, shoppers_per_hour: float = 1.0):
        self.days, self.seed, self.chaos = days, seed, chaos
        self.rng = random.Random(seed)
        self.rate = shoppers_per_hour
        self.report = Report(seed=seed, days=days, chaos=chaos)
        self.shoppers: list[str] = []
        self.kocs: list[str] = ["koc-mia", "koc-lily"]
        self.share_codes: list[str] = []
        self.applied: set[str] = set()

    # --- plumbing ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        return timezone.now()

    def client(self, code: str):
        """An API client logged in as the sandbox user of `code` (logging in is part of the load)."""
        from rest_framework.test import APIClient

        client = APIClient()
        response = client.post("/api/v1/auth/wechat-login", {"code": code}, format="json")
        if response.status_code != 200:
            self.report.counts[f"login_{response.status_code}"] += 1
            return None
        self.report.counts["logins"] += 1
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        return client

    def ops(self):
        from rest_framework.authtoken.models import Token
        from rest_framework.test import APIClient

        from apps.accounts.models import User

        user, _ = User.objects.get_or_create(
            username=f"sim-ops-{self.seed}", defaults={"is_staff": True, "is_superuser": True}
        )
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    def sandbox(self, path: str, body: dict) -> Any:
        from django.test import Client

        return Client().post(f"{SANDBOX}/{path}", body, content_type="application/json")

    def address(self, client) -> int | None:
        found = client.get("/api/v1/me/addresses").json()
        rows = found.get("results", found) if isinstance(found, dict) else found
        if rows:
            return rows[0]["id"]
        response = client.post(
            "/api/v1/me/addresses",
            {
                "name": "模拟",
                "phone": "13800000000",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "detail": "龙井路 1 号",
                "is_default": True,
            },
            format="json",
        )
        return response.json()["id"] if response.status_code == 201 else None

    def pay(self, client, order_id: int) -> None:
        response = client.post(f"/api/v1/orders/{order_id}/pay")
        self.report.counts[f"pay_{response.status_code}"] += 1
        if response.status_code != 200 or self.rng.random() < 0.1:
            return  # WeChat refused the prepay (a fault), or the shopper walked away
        prepay_id = response.json()["package"].removeprefix("prepay_id=")
        paid = self.sandbox("pay/confirm", {"prepay_id": prepay_id})
        self.report.counts["paid_at_wechat" if paid.status_code == 200 else "pay_confirm_refused"] += 1

    # --- what people do ---------------------------------------------------------------------------

    def shopper_acts(self) -> None:
        from apps.groupbuys.models import Campaign, Group
        from apps.shop.models import Order, Sku

        if not self.shoppers or self.rng.random() < 0.3:
            self.shoppers.append(f"sim{self.seed}u{len(self.shoppers)}")
        code = self.rng.choice(self.shoppers)
        client = self.client(code)
        if client is None:
            return
        address = self.address(client)
        me = client.get("/api/v1/me").json()["id"]
        share = (
            {"share_code": self.rng.choice(self.share_codes)}
            if self.share_codes and self.rng.random() < 0.6
            else {}
        )
        action = self.rng.random()
        if action < 0.35:
            sku = self.rng.choice(list(Sku.objects.filter(stock__gt=0).values_list("id", flat=True)) or [0])
            response = client.post(
                "/api/v1/orders",
                {
                    "items": [{"sku_id": sku, "quantity": self.rng.randint(1, 2)}],
                    "address_id": address,
                    **share,
                },
                format="json",
            )
            self.report.counts[f"order_{response.status_code}"] += 1
            if response.status_code == 201:
                self.pay(client, response.json()["id"])
        elif action < 0.55:
            campaign = Campaign.objects.order_by("?").first()
            forming = Group.objects.filter(status="forming", campaign=campaign).exclude(members__user_id=me)
            group = forming.order_by("id").first() if self.rng.random() < 0.7 else None
            if group is not None:
                response = client.post(
                    f"/api/v1/groups/{group.pk}/join",
                    {"quantity": 1, "address_id": address, **share},
                    format="json",
                )
            elif campaign is not None:
                response = client.post(
                    f"/api/v1/group-buys/{campaign.pk}/groups",
                    {"quantity": 1, "address_id": address, **share},
                    format="json",
                )
            else:
                return
            self.report.counts[f"group_{'join' if group else 'open'}_{response.status_code}"] += 1
            if response.status_code == 201:
                self.pay(client, response.json()["order"]["id"])
        else:
            mine = Order.objects.filter(buyer_id=me).order_by("?").first()
            if mine is None:
                return
            if mine.status == "pending_payment":
                if self.rng.random() < 0.5:
                    self.report.counts[
                        f"cancel_{client.post(f'/api/v1/orders/{mine.pk}/cancel').status_code}"
                    ] += 1
                else:
                    self.pay(client, mine.pk)
            elif mine.status in ("paid", "shipped", "completed") and self.rng.random() < 0.4:
                amount = (
                    {}
                    if self.rng.random() < 0.6
                    else {"amount_fen": max(1, (mine.paid_fen - mine.refunded_fen) // 2)}
                )
                response = client.post(
                    f"/api/v1/orders/{mine.pk}/refunds", {"reason": "模拟售后", **amount}, format="json"
                )
                self.report.counts[f"refund_request_{response.status_code}"] += 1
            elif mine.status == "shipped":
                response = client.post(f"/api/v1/orders/{mine.pk}/confirm-receipt")
                self.report.counts[f"confirm_receipt_{response.status_code}"] += 1

    def koc_acts(self) -> None:
        from apps.commissions.models import Withdrawal

        code = self.rng.choice(self.kocs)
        client = self.client(code)
        if client is None:
            return
        action = self.rng.random()
        if action < 0.3 and len(self.share_codes) < 4:  # a poster takes seconds to render: a few links
            from apps.groupbuys.models import Campaign
            from apps.shop.models import Product

            if self.rng.random() < 0.5 and (product := Product.objects.order_by("?").first()):
                body = {"target": "product", "target_id": product.pk}
            elif campaign := Campaign.objects.order_by("?").first():
                body = {"target": "group_buy", "target_id": campaign.pk}
            else:
                return
            response = client.post("/api/v1/share-links", body, format="json")
            self.report.counts[f"share_{response.status_code}"] += 1
            if response.status_code == 201:
                self.share_codes.append(response.json()["code"])
            return
        available = client.get("/api/v1/koc/wallet").json().get("available_fen", 0)
        if action < 0.6 and available >= 100:
            amount = self.rng.randint(10, min(available, 50_000))
            response = client.post(
                "/api/v1/koc/withdrawals",
                {"amount_fen": amount},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"sim-{self.seed}-{self.rng.getrandbits(64):x}",
            )
            self.report.counts[f"withdraw_{response.status_code}"] += 1
            return
        waiting = (
            Withdrawal.objects.filter(status="wait_user_confirm", user_id__isnull=False).order_by("?").first()
        )
        if waiting is None:
            return
        if self.rng.random() < 0.75:
            answer = self.sandbox("transfer/confirm", {"out_bill_no": waiting.out_bill_no})
            self.report.counts[f"transfer_confirm_{answer.status_code}"] += 1
        else:
            koc_client = self.client(waiting_code(waiting))
            if koc_client is not None:
                response = koc_client.post(f"/api/v1/koc/withdrawals/{waiting.pk}/cancel")
                self.report.counts[f"withdrawal_cancel_{response.status_code}"] += 1

    def applicant_acts(self) -> None:
        candidates = [s for s in self.shoppers if s not in self.applied]
        if not candidates:
            return
        code = self.rng.choice(candidates)
        client = self.client(code)
        if client is None:
            return
        self.applied.add(code)
        response = client.post(
            "/api/v1/koc/apply",
            {"real_name": "模拟申请", "bio": "", "favorite_category_ids": [], "invite_code": "MIA2026"},
            format="json",
        )
        self.report.counts[f"koc_apply_{response.status_code}"] += 1

    def operators_act(self, *, everything: bool = False) -> None:
        """Operators ship what is shippable and decide the refund requests (all of them at the end)."""
        from apps.kocs import services as kocs
        from apps.kocs.models import Koc
        from apps.shop.models import Order, Refund

        ops = self.ops()
        for order in Order.objects.filter(status="paid", shipping_hold=False).order_by("id"):
            if everything or self.rng.random() < 0.5:
                response = ops.post(
                    f"/api/v1/ops/orders/{order.no}/ship",
                    {"carrier": "顺丰", "tracking_no": f"SF{order.pk}"},
                    format="json",
                )
                self.report.counts[f"ship_{response.status_code}"] += 1
        for refund in Refund.objects.filter(status="requested").order_by("id"):
            if everything or self.rng.random() < 0.6:
                verb = "approve" if everything or self.rng.random() < 0.8 else "reject"
                response = ops.post(f"/api/v1/ops/refunds/{refund.pk}/{verb}", {}, format="json")
                self.report.counts[f"refund_{verb}_{response.status_code}"] += 1
        for refund in Refund.objects.filter(status="failed").exclude(
            wechat_status__in=["ABNORMAL", "CLOSED"]
        ):
            response = ops.post(f"/api/v1/ops/refunds/{refund.pk}/retry", {}, format="json")
            self.report.counts[f"refund_retry_{response.status_code}"] += 1
        for koc in Koc.objects.filter(status="pending").order_by("id"):
            kocs.koc_approve(koc=koc, by=None)
            self.report.counts["koc_approved"] += 1

    def sweep(self) -> None:
        """What beat runs, at the simulated time."""
        from apps.commissions.services import settlement, withdrawals
        from apps.core import events
        from apps.groupbuys import services as groupbuys
        from apps.shop import services as shop

        now = self.now()
        shop.cancel_unpaid_orders(now=now)
        groupbuys.groups_expire(now=now)
        shop.refunds_resubmit_stuck(now=now)
        shop.auto_confirm_orders(now=now)
        withdrawals.withdrawals_cancel_unconfirmed(now=now)
        withdrawals.withdrawals_poll_stale(older_than=timedelta(0))
        events.redeliver(now=now, older_than=timedelta(0))
        settlement.settle_commissions(now=now)

    # --- the run ------------------------------------------------------------------------------------

    def fingerprint(self) -> tuple:
        from apps.commissions.models import LedgerEntry, Withdrawal
        from apps.core.models import OutboxEvent
        from apps.groupbuys.models import Group
        from apps.shop.models import Order, Refund

        return (
            tuple(Order.objects.values_list("status").annotate(n=Sum("id")).order_by("status")),
            tuple(Refund.objects.values_list("status").annotate(n=Sum("id")).order_by("status")),
            tuple(Withdrawal.objects.values_list("status").annotate(n=Sum("id")).order_by("status")),
            tuple(Group.objects.values_list("status").annotate(n=Sum("id")).order_by("status")),
            LedgerEntry.objects.count(),
            OutboxEvent.objects.filter(dispatched_at__isnull=True).count(),
        )

    def run(self) -> Report:
        import time_machine
        from django.core.management import call_command

        from apps.wechat.sandbox import faults, inprocess
        from config.celery import app as celery_app

        start = timezone.localtime().replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
        with ExitStack() as stack:
            traveller = stack.enter_context(time_machine.travel(start, tick=True))
            stack.enter_context(
                override_settings(
                    WECHAT_SANDBOX=True,
                    PUBLIC_BASE_URL=inprocess.ORIGIN,
                    WECHAT_SANDBOX_BASE_URL=f"{inprocess.ORIGIN}{SANDBOX}",
                    ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
                    # Short windows, so that a few simulated days carry money all the way to
                    # withdrawals: receipt confirmed a day after shipping, no after-sales freeze.
                    SHOP_AUTO_CONFIRM_DAYS=1,
                    COMMISSION_FREEZE_DAYS=0,
                )
            )
            stack.enter_context(inprocess.routed())
            eager = celery_app.conf.task_always_eager
            celery_app.conf.task_always_eager = True
            stack.callback(setattr, celery_app.conf, "task_always_eager", eager)
            call_command("seed_demo", stdout=_Null())
            self.baseline()
            faults.clear()
            if self.chaos:
                faults.set_chaos(rate=self.chaos, seed=self.seed)
            for _day in range(self.days):
                for _hour in range(24):
                    for _ in range(self._poisson(self.rate)):
                        self.shopper_acts()
                    if self.rng.random() < 0.5:
                        self.koc_acts()
                    if self.rng.random() < 0.03:
                        self.applicant_acts()
                    if self.rng.random() < 0.3:
                        self.operators_act()
                    self.sweep()
                    traveller.shift(timedelta(hours=1))
            self.report.faults = faults.injected()
            faults.clear()  # WeChat behaves from now on: what chaos left must now be recovered
            self.settle(traveller)
            self.report.invariants = self.check()
        return self.report

    def settle(self, traveller) -> None:
        still = 0
        previous = None
        for _step in range(160):  # at most 40 days of six-hour steps
            self.operators_act(everything=True)
            if _step < 8:
                self.koc_acts()  # KOCs keep withdrawing what became available, confirming or not
            self.sweep()
            traveller.shift(timedelta(hours=6))
            now = self.fingerprint()
            still = still + 1 if now == previous else 0
            previous = now
            if still >= 4 and not self.transitional():
                break
        self.report.counts["settle_hours"] = _step * 6

    def transitional(self) -> dict[str, int]:
        from apps.commissions.models import Withdrawal
        from apps.groupbuys.models import Group
        from apps.shop.models import Order, Refund

        # An order whose refund WeChat ended ABNORMAL waits for finance (WeChat's console), by design.
        with_finance = Refund.objects.filter(status="failed", wechat_status="ABNORMAL").values("order_id")
        return {
            name: n
            for name, n in {
                "orders": Order.objects.filter(status__in=["pending_payment", "paid", "shipped"])
                .exclude(pk__in=with_finance)
                .count(),
                "refunds": Refund.objects.filter(
                    status__in=["requested", "approved", "submitting", "processing"]
                ).count(),
                "transfers": Withdrawal.objects.filter(status__in=Withdrawal.IN_FLIGHT)
                .exclude(channel="b2b")
                .count(),
                "groups forming past their deadline": Group.objects.filter(
                    status="forming", expires_at__lte=self.now()
                ).count(),
            }.items()
            if n
        }

    def baseline(self) -> None:
        from apps.shop.models import Order, Sku

        self.stock = dict(Sku.objects.values_list("id", "stock"))
        self.first_order_id = (Order.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1

    def _poisson(self, rate: float) -> int:
        count, threshold, product = 0, pow(2.718281828, -rate), self.rng.random()
        while product > threshold:
            count += 1
            product *= self.rng.random()
        return count

    # --- invariants ---------------------------------------------------------------------------------

    def check(self) -> list[Invariant]:
        from apps.commissions.models import Bucket, Commission, LedgerEntry, Withdrawal
        from apps.commissions.selectors import balances
        from apps.groupbuys.models import Group
        from apps.reconciliation.services import reconcile
        from apps.shop.models import Order, OrderItem, Payment, Refund, Sku
        from apps.wechat.sandbox.ledger import ledger

        result: list[Invariant] = []
        books = ledger()
        counts = self.report.counts
        counts.update(
            {
                "orders": Order.objects.filter(pk__gte=self.first_order_id).count(),
                "payments": Payment.objects.count(),
                "refunds": Refund.objects.count(),
                "refunds_succeeded": Refund.objects.filter(status="succeeded").count(),
                "transfers": Withdrawal.objects.filter(channel="wechat_transfer").count(),
                "transfers_succeeded": Withdrawal.objects.filter(
                    channel="wechat_transfer", status="succeeded"
                ).count(),
                "transfers_late_success": Withdrawal.objects.filter(late_success=True).count(),
                "refunds_abnormal_for_finance": Refund.objects.filter(wechat_status="ABNORMAL").count(),
                "groups": Group.objects.count(),
                "groups_succeeded": Group.objects.filter(status="succeeded").count(),
                "wechat_payments": sum(1 for p in books["payments"] if p["state"] == "SUCCESS"),
            }
        )

        # 1. WeChat's books equal ours (the sandbox's ledger, and the daily reconciliation of every day)
        ours_paid = dict(Payment.objects.values_list("transaction_id", "amount_fen"))
        wechat_paid = {p["transaction_id"]: p["amount"] for p in books["payments"] if p["state"] == "SUCCESS"}
        ours_refunded = dict(
            Refund.objects.filter(status="succeeded").values_list("out_refund_no", "amount_fen")
        )
        wechat_refunded = {
            r["out_refund_no"]: r["amount"] for r in books["refunds"] if r["state"] == "SUCCESS"
        }
        ours_sent = dict(
            Withdrawal.objects.filter(status="succeeded", channel="wechat_transfer").values_list(
                "out_bill_no", "net_fen"
            )
        )
        wechat_sent = {t["out_bill_no"]: t["amount"] for t in books["transfers"] if t["state"] == "SUCCESS"}
        days = sorted(
            {
                timezone.localtime(_parse(p["success_time"])).date()
                for p in books["payments"]
                if p["success_time"]
            }
            | {timezone.localtime(_parse(r["create_time"])).date() for r in books["refunds"]}
            | {timezone.localtime(_parse(t["update_time"])).date() for t in books["transfers"]}
        )
        runs = [reconcile(bill_date=day) for day in days]
        unclean = [f"{r.bill_date}: {r.differences_count}" for r in runs if r.status != "clean"]
        mismatch = [
            name
            for name, (ours, theirs) in {
                "payments": (ours_paid, wechat_paid),
                "refunds": (ours_refunded, wechat_refunded),
                "transfers": (ours_sent, wechat_sent),
            }.items()
            if ours != theirs
        ]
        counts["reconciled_days"] = len(runs)
        result.append(
            Invariant(
                "reconciliation clean (WeChat's books equal ours)",
                not unclean and not mismatch,
                "; ".join([*mismatch, *unclean]),
            )
        )

        # 2. nothing left in a transitional state; no group forming past its deadline
        left = self.transitional()
        result.append(
            Invariant(
                "no order, refund or transfer left in a transitional state",
                not {k: v for k, v in left.items() if not k.startswith("groups")},
                ", ".join(f"{k}: {v}" for k, v in left.items()),
            )
        )
        forming = Group.objects.filter(status="forming", expires_at__lte=self.now()).count()
        result.append(Invariant("no group forming past its deadline", forming == 0, f"{forming}"))

        # 3. stock plus units sold equals the starting stock
        out = Counter()
        sold = OrderItem.objects.filter(order_id__gte=self.first_order_id).exclude(order__status="cancelled")
        for sku_id, quantity, status, shipped_at in sold.values_list(
            "sku_id", "quantity", "order__status", "order__shipped_at"
        ):
            if status == "refunded" and shipped_at is None:
                continue  # refunded before shipping: the goods went back on the shelf
            out[sku_id] += quantity
        wrong_stock = [
            f"sku {pk}: {stock}+{out[pk]}!={self.stock.get(pk)}"
            for pk, stock in Sku.objects.values_list("id", "stock")
            if pk in self.stock and stock + out[pk] != self.stock[pk]
        ]
        result.append(
            Invariant(
                "stock plus units sold equals the starting stock", not wrong_stock, "; ".join(wrong_stock[:5])
            )
        )

        # 4. every balance equals the sum of its entries
        wrong: list[str] = []
        for order in Order.objects.filter(pk__gte=self.first_order_id):
            paid = Payment.objects.filter(order=order).aggregate(s=Sum("amount_fen"))["s"] or 0
            refunded = (
                Refund.objects.filter(order=order, status="succeeded").aggregate(s=Sum("amount_fen"))["s"]
                or 0
            )
            if (order.paid_fen, order.refunded_fen) != (paid, refunded):
                wrong.append(
                    f"order {order.no}: paid {order.paid_fen}/{paid} refunded {order.refunded_fen}/{refunded}"
                )
        sums = balances(account_ids=list(LedgerEntry.objects.values_list("account_id", flat=True).distinct()))
        for account_id, b in sums.items():
            w = Withdrawal.objects.filter(account_id=account_id)
            in_flight = w.filter(status__in=Withdrawal.IN_FLIGHT).aggregate(s=Sum("amount_fen"))["s"] or 0
            paid_net = w.filter(status="succeeded").aggregate(s=Sum("net_fen"))["s"] or 0
            tax = w.filter(status="succeeded").aggregate(s=Sum("tax_fen"))["s"] or 0
            earned = Commission.objects.filter(account_id=account_id).aggregate(s=Sum("amount_fen"))["s"] or 0
            if (b[Bucket.WITHDRAWING], b[Bucket.PAID], b[Bucket.TAX]) != (in_flight, paid_net, tax):
                ledger_side = f"{b[Bucket.WITHDRAWING]}/{b[Bucket.PAID]}/{b[Bucket.TAX]}"
                wrong.append(
                    f"account {account_id}: withdrawing/paid/tax {ledger_side}"
                    f" != {in_flight}/{paid_net}/{tax}"
                )
            if -b[Bucket.EARNED] < earned:
                wrong.append(
                    f"account {account_id}: earned entries {-b[Bucket.EARNED]} < commissions {earned}"
                )
        result.append(
            Invariant("every balance equals the sum of its entries", not wrong, "; ".join(wrong[:5]))
        )

        # 5. money in equals money out plus what is held
        money_in = sum(wechat_paid.values())
        money_out = sum(wechat_refunded.values()) + sum(wechat_sent.values())
        held = sum(o.paid_fen - o.refunded_fen for o in Order.objects.all()) - sum(ours_sent.values())
        counts.update({"money_in_fen": money_in, "money_out_fen": money_out, "held_fen": held})
        result.append(
            Invariant(
                "money in equals money out plus what is held",
                money_in == money_out + held,
                f"{money_in} != {money_out} + {held}",
            )
        )
        return result


def waiting_code(withdrawal) -> str:
    from apps.accounts.models import User

    openid = User.objects.filter(pk=withdrawal.user_id).values_list("openid", flat=True).first() or ""
    return openid.removeprefix("sandbox-")


def _parse(value: str) -> datetime:
    from django.utils.dateparse import parse_datetime

    return parse_datetime(value)


class _Null:
    def write(self, *_args, **_kwargs) -> None:
        pass
