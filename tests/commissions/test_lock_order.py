"""No deadlocks: every flow takes the rows it needs in one order (lock_objects.py), and the ledger's
foreign-key checks never wait on those locks.

Reproduction: on PostgreSQL, 6 threads applying out-of-order events of 40 orders (while settlement
ran) hit 4 to 13 deadlocks: Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so an insert's
FOR KEY SHARE lock on the account was taken at COMMIT, in no particular order, against the FOR UPDATE
account locks that reversal and settlement take in pk order.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from apps.commissions import selectors
from apps.commissions.models import Commission, LedgerEntry, OrderFact
from apps.commissions.services import accrual
from apps.commissions.services.settlement import settle_commissions
from tests.commissions.factories import (
    at,
    completed_payload,
    make_plan,
    make_product,
    make_team,
    order_payload,
    refund_payload,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_six_threads_of_out_of_order_events_over_40_orders_never_deadlock(settings):
    # given: one team (every order touches the same accounts) and 40 orders' events, shuffled
    settings.COMMISSION_FREEZE_DAYS = 0
    team = make_team()
    product = make_product(max_rate="30.00")
    make_plan(
        {"kind": "sales", "level": 0, "rate_percent": Decimal("10")},
        {"kind": "sales", "level": 1, "rate_percent": Decimal("3")},
        {"kind": "team", "rate_percent": Decimal("1")},
    )
    rng = random.Random(20261201)
    events = []
    for i in range(40):
        seller = team["ava"] if i % 2 else team["mia"]
        order = order_payload(
            koc=seller,
            lines=[(product, 2, 5000 + i)],
            paid_at=at(
                0,
            ),
        )
        total = order["paid_fen"]
        events.append((accrual.order_paid_record, order))
        events.append((accrual.order_completed_record, completed_payload(order, completed_at=at(0.1))))
        first = total // 3
        events.append(
            (
                accrual.order_refunded_record,
                refund_payload(
                    order, refund_id=order["order_id"] * 10 + 1, amount_fen=first, refunded_fen=first
                ),
            )
        )
        if i % 4 == 0:
            events.append(
                (
                    accrual.order_refunded_record,
                    refund_payload(
                        order,
                        refund_id=order["order_id"] * 10 + 2,
                        amount_fen=total - first,
                        refunded_fen=total,
                    ),
                )
            )
    rng.shuffle(events)
    queue = list(events)
    lock = threading.Lock()
    deadlocks, errors = [], []
    barrier = threading.Barrier(7)

    def worker():
        barrier.wait()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    handler, payload = queue.pop()
                try:
                    handler(payload=payload)
                except OperationalError as exc:
                    (deadlocks if "deadlock" in str(exc) else errors).append(exc)
        finally:
            connection.close()

    def settler():
        barrier.wait()
        try:
            for _ in range(15):
                try:
                    settle_commissions(now=at(30))
                except OperationalError as exc:
                    (deadlocks if "deadlock" in str(exc) else errors).append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker) for _ in range(6)] + [threading.Thread(target=settler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    settle_commissions(now=at(30))

    # then: no deadlock, every event applied, and the money invariants hold
    assert deadlocks == []
    assert errors == []
    assert OrderFact.objects.filter(accrued_at__isnull=False, frozen_at__isnull=False).count() == 40
    net = defaultdict(int)
    for c in Commission.objects.all():
        net[c.koc_id] += c.amount_fen - c.reversed_fen
        assert c.reversed_fen <= c.amount_fen
    for koc_id, amount in net.items():
        wallet = selectors.wallet(koc_id=koc_id)
        assert (wallet["available_fen"], wallet["pending_fen"], wallet["frozen_fen"]) == (amount, 0, 0)
    assert sum(selectors.ledger_totals().values()) == 0
    # every fully refunded order (every fourth) nets to zero
    for fact in OrderFact.objects.filter(refunded_fen__gte=1):
        if fact.refunded_fen >= fact.paid_fen:
            assert (
                sum(c.amount_fen - c.reversed_fen for c in Commission.objects.filter(order_id=fact.order_id))
                == 0
            )
    assert LedgerEntry.objects.filter(kind="reversal").exists()
