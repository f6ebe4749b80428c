"""劳务报酬 withholding by the cumulative method (公告2025年第16号), per person and year.

Each worked example derives its figures by hand in a comment, in yuan:
taxable to date = income × 80% − 5,000 × months − other deductions; tax to date by 预扣率表一;
a payout withholds tax to date − what the run already withheld, never below zero.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from unittest import mock

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.commissions.models import PayoutSettings, TaxDeduction, TaxRecord, Withdrawal
from apps.commissions.services import tax as tax_services
from apps.commissions.services import withdrawals as withdrawal_services
from apps.wechat import transfers
from tests.commissions.factories import earn_available
from tests.helpers import bearer_client, error_code
from tests.kocs.factories import make_individual

YUAN = 100


def when(month: int, day: int = 15, year: int = 2031) -> datetime:
    return timezone.make_aware(datetime(year, month, day, 12, 0))


def _fake_transfer(**kwargs):
    return transfers.TransferBill(
        out_bill_no=kwargs["out_bill_no"],
        transfer_bill_no="1330" + kwargs["out_bill_no"],
        state="WAIT_USER_CONFIRM",
        package_info="pkg-" + kwargs["out_bill_no"],
    )


def payout(koc, amount_fen: int, at: datetime, outcome: str = "SUCCESS") -> Withdrawal:
    """One withdrawal requested and finished (SUCCESS, FAIL or CANCELLED) at `at`."""
    with (
        mock.patch("django.utils.timezone.now", return_value=at),
        mock.patch.object(transfers, "transfer_create", _fake_transfer),
    ):
        answer = withdrawal_services.withdrawal_create(
            koc_id=koc.pk, user_id=koc.user_id, amount_fen=amount_fen, idempotency_key=uuid.uuid4().hex
        )
        assert answer.status == 201, answer.body
        withdrawal_services.withdrawal_apply_state(
            withdrawal_id=answer.withdrawal.pk, state=outcome, transfer_bill_no="1330x"
        )
    return Withdrawal.objects.get(pk=answer.withdrawal.pk)


@pytest.fixture
def person(db):
    """An individual with an identity, a large available balance and no daily cap in the way."""
    PayoutSettings.objects.update_or_create(pk=1, defaults={"daily_max_fen": 10**12})
    koc = make_individual(real_name="米娅")
    earn_available(koc, 2_000_000 * YUAN, when=when(1, 1, year=2030))
    return koc


def withheld(koc) -> list[int]:
    return list(
        Withdrawal.objects.filter(koc_id=koc.pk, status="succeeded")
        .order_by("pk")
        .values_list("tax_fen", flat=True)
    )


# --- the worked examples -----------------------------------------------------------------------------------


def test_first_month_3000_yuan_withholds_nothing(person):
    # 3,000 × 80% − 5,000 × 1 = −2,600 → no taxable income → 0 (the 2018 method took 440)
    w = payout(person, 3_000 * YUAN, when(1))
    assert (w.tax_fen, w.net_fen) == (0, 300_000)


def test_first_month_30000_yuan_withholds_570(person):
    # 30,000 × 80% − 5,000 = 19,000 taxable; ≤ 36,000 → 3% → 570.00
    w = payout(person, 30_000 * YUAN, when(1))
    assert (w.tax_fen, w.net_fen) == (57_000, 2_943_000)


def test_four_payouts_in_one_month_withhold_774_in_total(person):
    # 500:    400 − 5,000 < 0                          → tax to date 0     → withhold 0
    # 3,500:  2,800 − 5,000 < 0                        → 0                 → 0
    # 8,500:  6,800 − 5,000 = 1,800 × 3% = 54          → 54 − 0            → 54
    # 38,500: 30,800 − 5,000 = 25,800 × 3% = 774       → 774 − 54          → 720
    taxes = [payout(person, a * YUAN, when(3)).tax_fen for a in (500, 3_000, 5_000, 30_000)]
    assert taxes == [0, 0, 5_400, 72_000]
    assert sum(taxes) == 77_400


def test_ten_thousand_a_month_for_a_year_withholds_1080(person):
    # month n: income 10,000n × 80% = 8,000n − 5,000n = 3,000n taxable → 3% = 90n to date;
    # each month withholds 90n − 90(n−1) = 90; the year 12 × 90 = 1,080 (the 2018 method: 19,200)
    taxes = [payout(person, 10_000 * YUAN, when(m)).tax_fen for m in range(1, 13)]
    assert taxes == [9_000] * 12
    assert sum(taxes) == 108_000
    record = TaxRecord.objects.filter(koc_id=person.pk).order_by("-id").first()
    assert (record.months, record.cum_income_fen, record.cum_tax_fen, record.cum_withheld_fen) == (
        12,
        12_000_000,
        108_000,
        108_000,
    )


def test_a_failed_payout_between_two_succeeded_ones_counts_for_nothing(person):
    # 3,000 succeeds: 2,400 − 5,000 < 0 → 0
    # 30,000 fails: no income recognised, no record
    # 10,000 succeeds: income 13,000 × 80% = 10,400 − 5,000 = 5,400 × 3% = 162 → 162 − 0 = 162
    # (had the failed one counted: 43,000 × 80% − 5,000 = 29,400 × 3% = 882)
    first = payout(person, 3_000 * YUAN, when(4))
    failed = payout(person, 30_000 * YUAN, when(4), outcome="FAIL")
    last = payout(person, 10_000 * YUAN, when(4))
    assert (first.tax_fen, last.tax_fen) == (0, 16_200)
    assert failed.status == "failed"
    assert TaxRecord.objects.filter(koc_id=person.pk).count() == 2
    assert not TaxRecord.objects.filter(withdrawal=failed).exists()


def test_a_cancelled_payout_records_nothing(person):
    cancelled = payout(person, 30_000 * YUAN, when(5), outcome="CANCELLED")
    # then the first real payout is a first month: 30,000 → 570
    assert payout(person, 30_000 * YUAN, when(5)).tax_fen == 57_000
    assert cancelled.status == "cancelled"
    assert TaxRecord.objects.filter(koc_id=person.pk).count() == 1


def test_a_month_without_a_payout_restarts_the_run(person, settings):
    settings.TAX_CONSECUTIVE_MONTHS = "restart"
    # January 30,000: 24,000 − 5,000 = 19,000 × 3% = 570
    # February: nothing → the run of consecutive months ends
    # March 30,000: a new run of one month: 24,000 − 5,000 = 19,000 × 3% = 570 − 0 = 570
    assert payout(person, 30_000 * YUAN, when(1)).tax_fen == 57_000
    assert payout(person, 30_000 * YUAN, when(3)).tax_fen == 57_000
    march = TaxRecord.objects.filter(koc_id=person.pk).order_by("-id").first()
    assert (march.run_start.month, march.months, march.cum_income_fen) == (3, 1, 3_000_000)


def test_with_the_year_policy_a_gap_does_not_restart_the_run(person, settings):
    settings.TAX_CONSECUTIVE_MONTHS = "year"
    # January 30,000 → 570
    # March 30,000, months counted: January and March (2):
    #   60,000 × 80% = 48,000 − 10,000 = 38,000 → 10% − 2,520 = 1,280 to date − 570 = 710
    assert payout(person, 30_000 * YUAN, when(1)).tax_fen == 57_000
    assert payout(person, 30_000 * YUAN, when(3)).tax_fen == 71_000


def test_consecutive_months_keep_one_run(person):
    # January 30,000 → 570; February 30,000: 60,000 × 80% = 48,000 − 10,000 = 38,000
    #   → 10% − 2,520 = 1,280 − 570 = 710
    assert payout(person, 30_000 * YUAN, when(1)).tax_fen == 57_000
    assert payout(person, 30_000 * YUAN, when(2)).tax_fen == 71_000


def test_a_new_year_starts_a_new_run(person):
    # December 2031 30,000 → 570; January 2032 30,000: a new year, a new run → 570 again
    assert payout(person, 30_000 * YUAN, when(12)).tax_fen == 57_000
    assert payout(person, 30_000 * YUAN, when(1, year=2032)).tax_fen == 57_000


def test_a_lower_tax_to_date_never_withholds_a_negative_amount(person):
    # January 30,000 → 570. February 1 yuan: 30,001 × 80% = 24,000.80 − 10,000 = 14,000.80
    # → 3% = 420.02 to date, below the 570 withheld → 0, not −149.98 (the excess waits for 汇算清缴)
    assert payout(person, 30_000 * YUAN, when(1)).tax_fen == 57_000
    assert payout(person, 1 * YUAN, when(2)).tax_fen == 0


def test_other_recorded_deductions_lower_the_taxable_income(person, settings):
    settings.TAX_OTHER_DEDUCTIONS = True
    TaxDeduction.objects.create(
        koc_id=person.pk, month=when(6).date(), amount_fen=1_000 * YUAN, note="商业健康险"
    )
    # 30,000 × 80% − 5,000 − 1,000 = 18,000 × 3% = 540
    assert payout(person, 30_000 * YUAN, when(6)).tax_fen == 54_000
    settings.TAX_OTHER_DEDUCTIONS = False
    # the switch off: 30,000 more in June: 60,000 × 80% − 5,000 = 43,000 → 10% − 2,520 = 1,780 − 540
    assert payout(person, 30_000 * YUAN, when(6)).tax_fen == 124_000


def test_the_tax_to_date_is_rounded_half_up_once():
    # income 51,250.06: 20% = 10,250.012 → 10,250.01; taxable 51,250.06 − 10,250.01 − 5,000 = 36,000.05
    # → 10% bracket: 3,600.005 − 2,520 = 1,080.005 → 1,080.01 (half up, on the fen)
    a = tax_services.assess(
        history=[], month=when(1).date().replace(day=1), amount_fen=5_125_006, rule="restart"
    )
    assert (a.cum_expense_fen, a.cum_taxable_fen, a.rate_percent, a.tax_fen) == (
        1_025_001,
        3_600_005,
        10,
        108_001,
    )


# --- the property -----------------------------------------------------------------------------------------

RATES = [
    (Decimal(36_000), Decimal("0.03"), Decimal(0)),
    (Decimal(144_000), Decimal("0.10"), Decimal(2_520)),
    (Decimal(300_000), Decimal("0.20"), Decimal(16_920)),
    (Decimal(420_000), Decimal("0.25"), Decimal(31_920)),
    (Decimal(660_000), Decimal("0.30"), Decimal(52_920)),
    (Decimal(960_000), Decimal("0.35"), Decimal(85_920)),
    (None, Decimal("0.45"), Decimal(181_920)),
]


def naive_tax_to_date(income_yuan: Decimal, months: int) -> Decimal:
    """The announcement's formula in yuan, written out again here, sharing nothing with the service."""
    cent = Decimal("0.01")
    expense = (income_yuan * Decimal("0.2")).quantize(cent, rounding=ROUND_HALF_UP)
    taxable = income_yuan - expense - 5_000 * months
    if taxable <= 0:
        return Decimal(0)
    for ceiling, rate, quick in RATES:
        if ceiling is None or taxable <= ceiling:
            return max(Decimal(0), (taxable * rate - quick).quantize(cent, rounding=ROUND_HALF_UP))
    raise AssertionError


def naive_expected_total(succeeded: list[tuple[int, int]]) -> Decimal:
    """(month, fen) of the succeeded payouts, in order → what the year withholds in total, in yuan.

    A run is a stretch of consecutive months with payouts; within it, every payout withholds
    max(0, tax to date − withheld so far), so the run withholds in total the highest tax to date
    any of its payouts reached."""
    total = Decimal(0)
    run_months: list[int] = []
    income = Decimal(0)
    best = Decimal(0)
    for month, fen in succeeded:
        if run_months and month - run_months[-1] > 1:  # a month without a payout: a new run
            total += best
            run_months, income, best = [], Decimal(0), Decimal(0)
        if not run_months or run_months[-1] != month:
            run_months.append(month)
        income += Decimal(fen) / 100
        best = max(best, naive_tax_to_date(income, len(run_months)))
    return total + best


payouts = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=12),  # month
        st.integers(min_value=1, max_value=8_000_000),  # fen, up to 80,000 yuan
        st.sampled_from(["SUCCESS", "SUCCESS", "FAIL", "CANCELLED"]),
    ),
    min_size=1,
    max_size=7,
).map(lambda items: sorted(items, key=lambda i: i[0]))


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=payouts)
def test_the_year_withholds_the_formula_on_the_succeeded_payouts_and_never_a_negative_amount(
    events, settings
):
    settings.TAX_CONSECUTIVE_MONTHS = "restart"
    settings.TAX_OTHER_DEDUCTIONS = False
    PayoutSettings.objects.update_or_create(pk=1, defaults={"daily_max_fen": 10**12, "min_withdrawal_fen": 1})
    koc = make_individual()
    earn_available(koc, sum(fen for _, fen, _ in events), when=when(1, 1, year=2030))

    done = [payout(koc, fen, when(month), outcome) for month, fen, outcome in events]

    assert all(w.tax_fen >= 0 and w.net_fen == w.amount_fen - w.tax_fen for w in done)
    succeeded = [(month, fen) for (month, fen, outcome) in events if outcome == "SUCCESS"]
    total = sum(w.tax_fen for w in done if w.status == "succeeded")
    assert Decimal(total) / 100 == naive_expected_total(succeeded)
    assert sum(r.withheld_fen for r in TaxRecord.objects.filter(koc_id=koc.pk)) == total
    assert TaxRecord.objects.filter(koc_id=koc.pk).count() == len(succeeded)


# --- the request path ---------------------------------------------------------------------------------------


def test_a_second_transfer_waits_for_the_first(person):
    with mock.patch.object(transfers, "transfer_create", _fake_transfer):
        first = withdrawal_services.withdrawal_create(
            koc_id=person.pk, user_id=person.user_id, amount_fen=10_000, idempotency_key="a"
        )
        second = withdrawal_services.withdrawal_create(
            koc_id=person.pk, user_id=person.user_id, amount_fen=10_000, idempotency_key="b"
        )
    assert first.status == 201
    assert (second.status, second.body["error"]["code"]) == (409, "withdrawal_pending")
    assert Withdrawal.objects.filter(koc_id=person.pk).count() == 1


def test_the_quote_shows_the_withholding_before_anything_is_written(person, transfer_sandbox):
    client = bearer_client(person.user)
    payout(person, 30_000 * YUAN, timezone.now())  # 570 withheld this month

    # 30,000 more this month: 60,000 × 80% − 5,000 = 43,000 → 10% − 2,520 = 1,780 − 570 = 1,210
    quote = client.get("/api/v1/koc/withdrawals/quote?amount_fen=3000000")
    created = client.post(
        "/api/v1/koc/withdrawals", {"amount_fen": 3_000_000}, format="json", HTTP_IDEMPOTENCY_KEY="q"
    ).json()

    assert quote.status_code == 200
    assert quote.json() == {"amount_fen": 3_000_000, "tax_fen": 121_000, "net_fen": 2_879_000}
    assert (created["tax_fen"], created["net_fen"]) == (121_000, 2_879_000)
    bad = client.get("/api/v1/koc/withdrawals/quote?amount_fen=0")
    assert (bad.status_code, error_code(bad)) == (400, "validation_error")
    broke = client.get(f"/api/v1/koc/withdrawals/quote?amount_fen={10**11}")
    assert (broke.status_code, error_code(broke)) == (409, "insufficient_balance")


def test_koc_tax_is_the_persons_own_statement(person):
    client = bearer_client(person.user)
    payout(person, 30_000 * YUAN, when(1))  # 570
    payout(person, 10_000 * YUAN, when(1), outcome="FAIL")  # nothing
    payout(person, 30_000 * YUAN, when(2))  # 60,000 × 80% − 10,000 = 38,000 → 1,280 − 570 = 710

    response = client.get("/api/v1/koc/tax?year=2031")

    assert response.status_code == 200
    assert response.json() == {
        "year": 2031,
        "income_fen": 6_000_000,
        "withheld_fen": 128_000,
        "months": [
            {"month": "2031-01", "income_fen": 3_000_000, "withheld_fen": 57_000},
            {"month": "2031-02", "income_fen": 3_000_000, "withheld_fen": 71_000},
        ],
    }
    assert client.get("/api/v1/koc/tax?year=2030").json()["months"] == []
    assert error_code(client.get("/api/v1/koc/tax")) == "validation_error"


def test_the_tax_is_credited_when_the_payout_succeeds(team, earn, transfer_sandbox, api_client):
    earn(team["mia"], 3_000 * YUAN)
    client = bearer_client(team["mia"].user)
    client.post("/api/v1/koc/withdrawals", {"amount_fen": 300_000}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    withdrawal = Withdrawal.objects.get()
    assert not TaxRecord.objects.exists()  # not before the transfer succeeds

    api_client.post(
        "/wechat-sandbox/transfer/confirm", {"out_bill_no": withdrawal.out_bill_no}, format="json"
    )

    record = TaxRecord.objects.get()
    assert (record.withdrawal_id, record.income_fen, record.withheld_fen, record.real_name) == (
        withdrawal.pk,
        300_000,
        0,
        "米娅",
    )
    assert record.id_number == team["mia"].id_number
    wallet = client.get("/api/v1/koc/wallet").json()
    assert wallet["paid_fen"] == 300_000


def test_tax_records_are_append_only(person):
    from apps.commissions.models import AppendOnly

    payout(person, 30_000 * YUAN, when(1))
    record = TaxRecord.objects.get()
    record.withheld_fen = 0
    with pytest.raises(AppendOnly):
        record.save()
    with pytest.raises(AppendOnly):
        record.delete()
