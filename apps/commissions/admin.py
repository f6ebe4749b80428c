"""The engine in the admin: rule sets (with compliance on save), the ledger (read only), withdrawals,
payout limits, the monthly tax statement (CSV / Excel), CSV / Excel exports of the commission and
withdrawal changelists, and the dry run."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _

from apps.core import audit
from apps.core.admin_names import NamedColumnsMixin
from apps.core.audit import HistoryTimelineMixin, TimelineEntry
from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError
from apps.core.exports import ExportMixin, Yuan, csv_response, money, xlsx_response
from apps.core.money_admin import YuanAdminMixin, yuan_text

from . import compliance, reports, selectors
from .models import (
    Account,
    Bucket,
    Commission,
    LedgerEntry,
    OrderFact,
    PayoutSettings,
    PeriodRun,
    RefundFact,
    Rule,
    RuleSet,
    TaxDeduction,
    TaxRecord,
    Withdrawal,
)
from .services import rules as rule_services
from .services import withdrawals as withdrawal_services
from .services.dry_run import dry_run, koc_labels


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else gettext_now("no end")


def _activation_confirmation(queryset) -> Confirmation:
    """Which set takes over from when, and which active set it replaces (read only: the activation
    itself re-checks everything under its locks)."""
    now = timezone.now()
    effects, warnings, rows = [], [], []
    for rule_set in queryset.order_by("effective_from", "version"):
        if rule_set.status != RuleSet.Status.DRAFT:
            warnings.append(
                gettext_now("“%(name)s” v%(version)s is not a draft and will not be activated")
                % {"name": rule_set.name, "version": rule_set.version}
            )
            continue
        start = rule_set.effective_from or now
        replaced = RuleSet.objects.filter(status=RuleSet.Status.ACTIVE).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gt=start)
        )
        if rule_set.effective_to is not None:
            replaced = replaced.filter(effective_from__lt=rule_set.effective_to)
        names = [
            gettext_now("“%(name)s” v%(version)s") % {"name": other.name, "version": other.version}
            for other in replaced.order_by("version")
        ]
        values = {
            "name": rule_set.name,
            "version": rule_set.version,
            "start": _when(start),
            "replaced": gettext_now(", ").join(names),
        }
        if names:
            effects.append(
                gettext_now(
                    "“%(name)s” v%(version)s takes effect from %(start)s, replacing %(replaced)s "
                    "(which then ends at %(start)s)"
                )
                % values
            )
        else:
            effects.append(
                gettext_now("“%(name)s” v%(version)s takes effect from %(start)s (it replaces no rule set)")
                % values
            )
        if start < now - timedelta(minutes=1):
            warnings.append(
                gettext_now("“%(name)s” v%(version)s starts in the past: the activation will be refused")
                % values
            )
        rows.append(
            [
                f"v{rule_set.version}",
                rule_set.name,
                str(rule_set.rules.count()),
                _when(start),
                _when(rule_set.effective_to),
                gettext_now(", ").join(names) or "—",
            ]
        )
    return Confirmation(
        title=gettext_now("Confirm rule set activation"),
        button=gettext_now("Activate (orders paid from then on are paid by the new rule set)"),
        effects=effects,
        warnings=warnings,
        headers=[
            gettext_now("version"),
            gettext_now("name"),
            gettext_now("rules"),
            gettext_now("effective from"),
            gettext_now("effective until"),
            gettext_now("replaces"),
        ],
        rows=rows,
    )


def _yuan(fen) -> Yuan | str:
    """Fen as a yuan amount: written "99.00" in a CSV and a number in yuan in Excel."""
    return money(fen or 0)


def with_koc_name(queryset):
    """Annotate what the KOC's display name is made of, in the same query (exports stream many rows:
    no query per row). `koc_name` below turns it into `Koc.display_name`."""
    from apps.kocs.models import Koc

    koc = Koc.objects.filter(pk=OuterRef("koc_id"))
    return queryset.annotate(
        _koc_role=Subquery(koc.values("role")[:1]),
        _koc_legal_name=Subquery(koc.values("legal_name")[:1]),
        _koc_real_name=Subquery(koc.values("real_name")[:1]),
        _koc_invite_code=Subquery(koc.values("invite_code")[:1]),
        _koc_nickname=Subquery(koc.values("user__nickname")[:1]),
    )


def koc_name(obj) -> str:
    """`Koc.display_name` from the annotations of `with_koc_name` (same rules, masked real name)."""
    from apps.kocs.models import Koc, mask_name

    role = getattr(obj, "_koc_role", None)
    if role is None:
        return ""
    if role in Koc.ORGANISATION_ROLES:
        return obj._koc_legal_name or obj._koc_invite_code
    return obj._koc_nickname or mask_name(obj._koc_real_name or "") or obj._koc_invite_code


def koc_named(queryset):
    """Annotate the KOC's name parts and phone for exports (no query per row)."""
    from apps.kocs.models import Koc

    koc = Koc.objects.filter(pk=OuterRef("koc_id"))
    return with_koc_name(queryset).annotate(_koc_phone=Subquery(koc.values("user__phone")[:1]))


class ReadOnlyAdmin(NamedColumnsMixin, YuanAdminMixin, admin.ModelAdmin):
    """Finance's read-only lists: amounts in yuan, KOCs and orders by name (search by name, phone,
    order number)."""

    named_fields = {"koc_id": "koc"}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- rule sets ----------------------------------------------------------------------------------------


class ComplianceFormSet(BaseInlineFormSet):
    """Runs the compliance checks of the whole set on what is about to be saved: one error per
    violation, shown above the rules, and nothing saved."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        rules = []
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or form.cleaned_data.get("DELETE"):
                continue
            rules.append(form.instance)
        violations = compliance.check(rules)
        if violations:
            # The operator reads what is wrong; the code stays in the logs and tests.
            raise ValidationError([ValidationError(v.message, code=v.code) for v in violations])


class RuleInline(YuanAdminMixin, admin.StackedInline):
    model = Rule
    formset = ComplianceFormSet
    extra = 0
    fieldsets = [
        (None, {"fields": [("name", "kind"), ("level", "basis", "rate_percent", "amount_fen")]}),
        (
            _("Scope"),
            {"fields": [("scope", "scope_id"), ("product_ids", "koc_ids"), ("valid_from", "valid_to")]},
        ),
        (
            _("Organisation / periodic rewards"),
            {"fields": [("beneficiary_role",), ("period", "measure", "metric", "target")]},
        ),
    ]

    def _editable(self, obj) -> bool:
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class DryRunForm(forms.Form):
    start = forms.DateField(label=_("start date (included)"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("end date (excluded)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError(_("The end date must be after the start date."))
        return data


@admin.register(RuleSet)
class RuleSetAdmin(HistoryTimelineMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "version",
        "status",
        "effective_from",
        "effective_to",
        "activated_at",
        "dry_run_link",
    ]
    list_filter = ["status"]
    readonly_fields = ["version", "status", "activated_at", "created_at"]
    inlines = [RuleInline]
    actions = ["activate", "copy_as_new_version", "retire"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return ["name", "notes", "effective_from", "effective_to", *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.version = rule_services.next_version()
        super().save_model(request, obj, form, change)

    @admin.display(description=_("dry run"))
    def dry_run_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:commissions_ruleset_dry_run", args=[obj.pk]), _("Dry run")
        )

    def history_timeline(self, rule_set: RuleSet) -> list[TimelineEntry]:
        entries = [TimelineEntry(rule_set.created_at, None, gettext_now("Draft created"))]
        if rule_set.activated_at:
            entries.append(
                TimelineEntry(
                    rule_set.activated_at,
                    None,
                    gettext_now("Activated: in force from %(start)s until %(end)s")
                    % {"start": _when(rule_set.effective_from), "end": _when(rule_set.effective_to)},
                )
            )
        return entries

    @admin.action(description=_("Activate the selected rule sets (compliance checked)"))
    def activate(self, request, queryset):
        if not is_confirmed(request):
            return confirmation_page(
                self, request, queryset, action="activate", confirmation=_activation_confirmation(queryset)
            )
        for rule_set in queryset.order_by("effective_from", "version"):
            try:
                rule_services.ruleset_activate(rule_set=rule_set)
            except ApplicationError as exc:
                messages.error(request, f"{rule_set}: {exc.message}")
            else:
                values = {"name": rule_set.name, "version": rule_set.version}
                audit.record(
                    actor=request.user,
                    obj=rule_set,
                    message=gettext_now("Activated rule set v%(version)s (compliance checked)") % values,
                )
                messages.success(request, gettext_now("%(name)s v%(version)s is active") % values)
        return None

    @admin.action(description=_("Copy as a new draft version"))
    def copy_as_new_version(self, request, queryset):
        for rule_set in queryset:
            copy = rule_services.ruleset_copy(rule_set=rule_set)
            audit.record(
                actor=request.user,
                obj=copy,
                message=gettext_now("Copied from v%(version)s as a draft") % {"version": rule_set.version},
                action="add",
            )
            messages.success(request, gettext_now("Draft v%(version)s created") % {"version": copy.version})

    @admin.action(description=_("Retire the selected rule sets"))
    def retire(self, request, queryset):
        for rule_set in queryset:
            try:
                rule_services.ruleset_retire(rule_set=rule_set)
            except ApplicationError as exc:
                messages.error(request, f"{rule_set}: {exc.message}")
            else:
                audit.record(
                    actor=request.user,
                    obj=rule_set,
                    message=gettext_now("Retired rule set v%(version)s") % {"version": rule_set.version},
                )

    def get_urls(self):
        return [
            path(
                "<int:pk>/dry-run/",
                self.admin_site.admin_view(self.dry_run_view),
                name="commissions_ruleset_dry_run",
            ),
            *super().get_urls(),
        ]

    dry_run_kocs_per_page = 50

    def dry_run_view(self, request, pk: int):
        rule_set = get_object_or_404(RuleSet, pk=pk)
        if not self.has_view_permission(request, rule_set):
            raise admin.sites.PermissionDenied
        form = DryRunForm(request.GET or None)
        report = None
        if form.is_valid():
            tz = timezone.get_current_timezone()
            start = datetime.combine(form.cleaned_data["start"], time.min, tzinfo=tz)
            end = datetime.combine(form.cleaned_data["end"], time.min, tzinfo=tz)
            report = dry_run(rule_set=rule_set, start=start, end=end)
        # Only the KOCs whose totals differ, a page at a time (thousands of KOCs are paid in a month).
        differences = report.koc_differences() if report else []
        koc_page = Paginator(differences, self.dry_run_kocs_per_page).get_page(request.GET.get("page"))
        labels = koc_labels([d.koc_id for d in koc_page])
        context = {
            **self.admin_site.each_context(request),
            "title": gettext_now("Dry run: %(rule_set)s") % {"rule_set": rule_set},
            "opts": self.model._meta,
            "original": rule_set,
            "form": form,
            "report": report,
            "report_rows_level": report.rows("per_level") if report else [],
            "report_rows_rule": report.rows("per_rule") if report else [],
            "koc_page": koc_page,
            "kocs_differing": len(differences),
            "report_rows_koc": [
                (labels.get(d.koc_id, f"#{d.koc_id}"), d.current_fen, d.draft_fen, d.difference_fen)
                for d in koc_page
            ],
        }
        return TemplateResponse(request, "admin/commissions/dry_run.html", context)


# --- facts and the ledger ------------------------------------------------------------------------------


@admin.register(OrderFact)
class OrderFactAdmin(ReadOnlyAdmin):
    named_fields = {"attributed_koc_id": "koc", "buyer_id": "user"}
    list_display = [
        "order_no",
        "attributed_koc_id",
        "paid_fen",
        "refunded_fen",
        "paid_at",
        "completed_at",
        "accrued_at",
    ]
    search_fields = ["order_no", "=order_id"]
    list_filter = [("completed_at", admin.EmptyFieldListFilter)]


@admin.register(RefundFact)
class RefundFactAdmin(ReadOnlyAdmin):
    named_fields = {"order_id": "order"}

    list_display = ["refund_id", "order_id", "amount_fen", "refunded_fen", "paid_fen", "applied_at"]
    search_fields = ["=order_id", "=refund_id"]


@admin.register(Commission)
class CommissionAdmin(ExportMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "koc_id",
        "order_no",
        "kind",
        "level",
        "amount_fen",
        "reversed_fen",
        "status",
        "available_at",
    ]
    list_filter = ["status", "kind", "level"]
    search_fields = ["=order_no", "=koc_id", "key"]
    export_filename = "commissions"
    export_columns = [
        (_("commission id"), "id"),
        (_("order number"), "order_no"),
        (_("KOC id"), "koc_id"),
        (_("KOC name"), koc_name),
        (_("kind"), "get_kind_display"),
        (_("level"), "level"),
        (_("amount (yuan)"), lambda c: _yuan(c.amount_fen)),
        (_("reversed (yuan)"), lambda c: _yuan(c.reversed_fen)),
        (_("status"), "get_status_display"),
        (_("available from"), "available_at"),
        (_("how it was calculated"), "explanation"),
    ]

    def export_queryset(self, request):
        return with_koc_name(super().export_queryset(request))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    named_fields = {"koc_id": "koc", "order_id": "order"}

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():  # an order number, as the engine recorded it
            facts = OrderFact.objects.filter(order_no=search_term.strip()).values("order_id")
            results = results | queryset.filter(order_id__in=facts)
        return results, duplicates

    list_display = [
        "id",
        "koc_id",
        "kind",
        "from_bucket",
        "to_bucket",
        "amount_fen",
        "order_id",
        "created_at",
    ]
    list_filter = ["kind", "to_bucket", "from_bucket"]
    search_fields = ["=koc_id", "=order_id", "key"]


BALANCE_BUCKETS = ("available", "frozen", "pending", "withdrawing", "paid", "tax")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["koc_id", "is_organisation", "balances", "created_at"]
    search_fields = ["=koc_id"]

    @admin.display(description=_("balances"))
    def balances(self, obj):
        b = selectors.account_balances(account=obj)
        return format_html_join(
            mark_safe("<br>"),
            "{}: {}",
            ((Bucket(k).label, yuan_text(b[k])) for k in BALANCE_BUCKETS),
        )


@admin.register(PeriodRun)
class PeriodRunAdmin(ReadOnlyAdmin):
    list_display = ["rule", "period_start", "period_end", "closed_at", "rewarded"]


# --- payouts --------------------------------------------------------------------------------------------


@admin.register(PayoutSettings)
class PayoutSettingsAdmin(YuanAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "min_withdrawal_fen", "daily_max_fen", "transfer_remark", "updated_at"]

    def has_add_permission(self, request):
        return not PayoutSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        settings_row = PayoutSettings.load()
        return HttpResponseRedirect(
            reverse("admin:commissions_payoutsettings_change", args=[settings_row.pk])
        )


class InvoiceForm(forms.Form):
    invoice_no = forms.CharField(label=_("invoice number"), max_length=32)


class NeedsAttentionFilter(admin.SimpleListFilter):
    """One click to the withdrawals that failed. The engine has already returned their money to the
    KOC's available balance; what is left is to read the reason and follow up with the KOC."""

    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("failed", _("Failed withdrawals")),
            ("late_success", _("Failed, then confirmed by WeChat")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(status=Withdrawal.Status.FAILED)
        if self.value() == "late_success":
            return queryset.filter(late_success=True)
        return queryset


@admin.register(Withdrawal)
class WithdrawalAdmin(HistoryTimelineMixin, ExportMixin, ReadOnlyAdmin):
    list_display = [
        "out_bill_no",
        "koc_id",
        "channel",
        "amount_fen",
        "tax_fen",
        "net_fen",
        "status",
        "late_success",
        "invoice_status",
        "fail_reason",
        "created_at",
    ]
    list_filter = [NeedsAttentionFilter, "status", "channel", "invoice_status"]
    search_fields = ["=out_bill_no", "=koc_id", "=transfer_bill_no"]
    export_filename = "withdrawals"
    export_columns = [
        (_("withdrawal id"), "id"),
        (_("KOC id"), "koc_id"),
        (_("KOC name"), koc_name),
        (_("amount (yuan)"), lambda w: _yuan(w.amount_fen)),
        (_("tax withheld (yuan)"), lambda w: _yuan(w.tax_fen)),
        (_("net paid (yuan)"), lambda w: _yuan(w.net_fen)),
        (_("status"), "get_status_display"),
        (_("transfer number"), "out_bill_no"),
        (_("failure reason"), "fail_reason"),
        (_("requested at"), "created_at"),
        (_("finished at"), "finished_at"),
    ]
    # The transfer's plumbing (the request's digest, what the API answered, WeChat's confirmation
    # parameters, the payee's openid): for the platform's engineers, not finance's page.
    internal_fields = (
        "idempotency_key",
        "request_hash",
        "response_body",
        "package_info",
        "openid",
        "user_id",
    )

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return [f for f in fields if f not in self.internal_fields]

    def history_timeline(self, withdrawal: Withdrawal) -> list[TimelineEntry]:
        """The payout's ledger: requested, tax withheld, paid or returned, each with its amount."""
        return [
            TimelineEntry(
                entry.created_at,
                None,
                f"{entry.get_kind_display()} {yuan_text(entry.amount_fen)}"
                f" ({entry.get_from_bucket_display()} → {entry.get_to_bucket_display()})",
            )
            for entry in LedgerEntry.objects.filter(withdrawal=withdrawal).order_by("id")
        ]

    def export_queryset(self, request):
        return with_koc_name(super().export_queryset(request))

    actions = ["record_invoice", "mark_b2b_paid", "mark_b2b_failed", "poll_wechat", "cancel_transfer"]

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser if obj is None else False

    @admin.action(description=_("Bank transfer done (organisations)"))
    def mark_b2b_paid(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.B2B, status=Withdrawal.Status.B2B_PENDING):
            try:
                withdrawal_services.withdrawal_b2b_settle(withdrawal_id=w.pk)
            except ApplicationError as exc:
                messages.error(request, f"{w.out_bill_no}: {exc.message}")
                continue
            audit.record(
                actor=request.user, obj=w, message=gettext_now("Bank transfer done, marked received")
            )
            messages.success(request, gettext_now("%(no)s marked received") % {"no": w.out_bill_no})

    @admin.action(description=_("Invoice received from the organisation (enter its number)"))
    def record_invoice(self, request, queryset):
        pending = queryset.filter(channel=Withdrawal.Channel.B2B, status=Withdrawal.Status.B2B_PENDING)
        form = InvoiceForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            for w in pending:
                try:
                    withdrawal_services.withdrawal_invoice_receive(
                        withdrawal_id=w.pk, invoice_no=form.cleaned_data["invoice_no"]
                    )
                except ApplicationError as exc:
                    messages.error(request, f"{w.out_bill_no}: {exc.message}")
                    continue
                invoice = {"no": w.out_bill_no, "invoice": form.cleaned_data["invoice_no"]}
                audit.record(
                    actor=request.user, obj=w, message=gettext_now("Invoice %(invoice)s received") % invoice
                )
                messages.success(request, gettext_now("%(no)s: invoice recorded") % invoice)
            return None
        return TemplateResponse(
            request,
            "admin/commissions/invoice_form.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Record an organisation's invoice"),
                "opts": self.model._meta,
                "form": form,
                "withdrawals": pending,
                "action": "record_invoice",
            },
        )

    @admin.action(description=_("Bank transfer failed, return to the balance (organisations)"))
    def mark_b2b_failed(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.B2B, status=Withdrawal.Status.B2B_PENDING):
            withdrawal_services.withdrawal_fail(
                withdrawal_id=w.pk, reason=gettext_now("Bank transfer failed")
            )
            audit.record(
                actor=request.user,
                obj=w,
                message=gettext_now("Bank transfer failed, the amount went back to the available balance"),
            )
            messages.success(request, gettext_now("%(no)s returned") % {"no": w.out_bill_no})

    @admin.action(description=_("Cancel WeChat transfers the user has not confirmed"))
    def cancel_transfer(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.WECHAT).order_by("pk"):
            try:
                w = withdrawal_services.withdrawal_cancel(
                    withdrawal=w,
                    reason=gettext_now("Cancelled by an operator (%(user)s)") % {"user": request.user},
                )
            except ApplicationError as exc:
                messages.warning(request, f"{w.out_bill_no}: {exc.message}")
                continue
            audit.record(
                actor=request.user,
                obj=w,
                message=gettext_now("WeChat transfer cancelled: %(status)s")
                % {"status": w.get_status_display()},
            )
            messages.info(request, f"{w.out_bill_no}: {w.get_status_display()}")

    @admin.action(description=_("Ask WeChat for the transfer's state"))
    def poll_wechat(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.WECHAT):
            before = w.status
            w = withdrawal_services.withdrawal_poll(withdrawal_id=w.pk)
            if w.status != before:
                audit.record(
                    actor=request.user,
                    obj=w,
                    message=gettext_now("Asked WeChat: %(before)s → %(after)s")
                    % {"before": Withdrawal.Status(before).label, "after": w.get_status_display()},
                )
            messages.info(request, f"{w.out_bill_no}: {w.get_status_display()}")


class StatementForm(forms.Form):
    month = forms.CharField(label=_("month (YYYY-MM)"), max_length=7)

    def clean_month(self) -> date:
        try:
            year, month = (int(p) for p in self.cleaned_data["month"].split("-"))
            return date(year, month, 1)
        except (ValueError, TypeError) as exc:
            raise ValidationError(_("Enter the month as YYYY-MM.")) from exc


class QuarterForm(forms.Form):
    quarter = forms.CharField(label=_("quarter (YYYYQn, e.g. 2026Q1)"), max_length=6)

    def clean_quarter(self) -> tuple[int, int]:
        value = self.cleaned_data["quarter"].strip().upper()
        try:
            year, quarter = value.split("Q")
            year, quarter = int(year), int(quarter)
            reports.quarter_bounds(year, quarter)
        except ValueError as exc:
            raise ValidationError(_("Enter the quarter as YYYYQn, n from 1 to 4.")) from exc
        return year, quarter


def report_response(report: reports.Report, fmt: str):
    """The tax authority's report, streamed (CSV) or spooled (Excel, openpyxl's write-only mode)."""
    if fmt == "xlsx":
        return xlsx_response(report.filename, report.header, report.rows())
    return csv_response(report.filename, report.header, report.rows())


@admin.register(TaxRecord)
class TaxRecordAdmin(ReadOnlyAdmin):
    """Per payout, append-only. The ID number is masked here; only the two reports for the tax
    authority (the buttons above the list) carry it in full."""

    list_display = [
        "month",
        "koc_id",
        "kind",
        "real_name",
        "id_number_masked",
        "income_fen",
        "withheld_fen",
        "cum_income_fen",
        "cum_tax_fen",
        "cum_withheld_fen",
        "withdrawal_id",
        "created_at",
    ]
    list_filter = ["month", "kind"]
    search_fields = ["=koc_id", "real_name"]
    change_list_template = "admin/commissions/taxrecord/change_list.html"
    exclude = ["id_number"]
    readonly_fields = ["id_number_masked"]

    @admin.display(description=_("ID number (masked)"))
    def id_number_masked(self, obj):
        return obj.id_number_masked

    def get_urls(self):
        return [
            path(
                "statement/",
                self.admin_site.admin_view(self.statement_view),
                name="commissions_taxrecord_statement",
            ),
            path(
                "platform-report/",
                self.admin_site.admin_view(self.platform_report_view),
                name="commissions_taxrecord_platform_report",
            ),
            *super().get_urls(),
        ]

    def statement_view(self, request):
        if not self.has_view_permission(request):
            raise admin.sites.PermissionDenied
        form = StatementForm(request.GET or None)
        if form.is_valid():
            return report_response(
                reports.withholding_list(form.cleaned_data["month"]), request.GET.get("format")
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Monthly withholding statement"),
            "opts": self.model._meta,
            "form": form,
            "intro": _(
                "A month's withholding on service income: one row per person with every figure of the "
                "cumulative method (full ID numbers, for filing only). Organisations are settled by bank "
                "transfer and are not in it."
            ),
        }
        return TemplateResponse(request, "admin/commissions/tax_statement.html", context)

    def platform_report_view(self, request):
        if not self.has_view_permission(request):
            raise admin.sites.PermissionDenied
        form = QuarterForm(request.GET or None)
        if form.is_valid():
            year, quarter = form.cleaned_data["quarter"]
            return report_response(reports.platform_report(year, quarter), request.GET.get("format"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Platform tax information report (quarterly, State Council Decree 810)"),
            "opts": self.model._meta,
            "form": form,
            "intro": _(
                "The people and organisations paid this quarter: identity, gross income, refunds, net "
                "income, commissions paid and tax withheld (full ID numbers, for filing only)."
            ),
        }
        return TemplateResponse(request, "admin/commissions/tax_statement.html", context)


@admin.register(TaxDeduction)
class TaxDeductionAdmin(NamedColumnsMixin, YuanAdminMixin, admin.ModelAdmin):
    """Other deductions finance records (累计依法确定的其他扣除): added, never edited or deleted
    (a payout may already have been computed on them); they count from the next payout on."""

    list_display = ["month", "koc_id", "amount_fen", "note", "created_at"]
    list_filter = ["month"]
    search_fields = ["=koc_id"]
    named_fields = {"koc_id": "koc"}

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False
