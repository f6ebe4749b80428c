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

from apps.core import audit
from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError
from apps.core.exports import ExportMixin, Yuan, csv_response, money, xlsx_response

from . import compliance, reports, selectors
from .models import (
    Account,
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
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "长期"


def _activation_confirmation(queryset) -> Confirmation:
    """Which set takes over from when, and which active set it replaces (read only: the activation
    itself re-checks everything under its locks)."""
    now = timezone.now()
    effects, warnings, rows = [], [], []
    for rule_set in queryset.order_by("effective_from", "version"):
        if rule_set.status != RuleSet.Status.DRAFT:
            warnings.append(f"「{rule_set.name}」v{rule_set.version} 不是草稿，不会启用")
            continue
        start = rule_set.effective_from or now
        replaced = RuleSet.objects.filter(status=RuleSet.Status.ACTIVE).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gt=start)
        )
        if rule_set.effective_to is not None:
            replaced = replaced.filter(effective_from__lt=rule_set.effective_to)
        names = [f"「{other.name}」v{other.version}" for other in replaced.order_by("version")]
        takes_over = (
            f"，替换 {'、'.join(names)}（其生效期截止于 {_when(start)}）"
            if names
            else "（没有被替换的规则集）"
        )
        effects.append(f"「{rule_set.name}」v{rule_set.version} 将从 {_when(start)} 起生效{takes_over}")
        if start < now - timedelta(minutes=1):
            warnings.append(f"「{rule_set.name}」v{rule_set.version} 的生效时间已过，启用会被拒绝")
        rows.append(
            [
                f"v{rule_set.version}",
                rule_set.name,
                str(rule_set.rules.count()),
                _when(start),
                _when(rule_set.effective_to),
                "、".join(names) or "—",
            ]
        )
    return Confirmation(
        title="确认启用规则集",
        button="确认启用（之后支付的订单按新规则集结算）",
        effects=effects,
        warnings=warnings,
        headers=["版本", "名称", "规则数", "生效时间", "失效时间", "替换"],
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


class ReadOnlyAdmin(admin.ModelAdmin):
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
            raise ValidationError([f"[{v.code}] {v.message}" for v in violations])


class RuleInline(admin.StackedInline):
    model = Rule
    formset = ComplianceFormSet
    extra = 0
    fieldsets = [
        (None, {"fields": [("name", "kind"), ("level", "basis", "rate_percent", "amount_fen")]}),
        ("范围", {"fields": [("scope", "scope_id"), ("product_ids", "koc_ids"), ("valid_from", "valid_to")]}),
        ("机构 / 周期奖励", {"fields": [("beneficiary_role",), ("period", "measure", "metric", "target")]}),
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
    start = forms.DateField(label="开始日期 (含)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="结束日期 (不含)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("结束日期必须晚于开始日期")
        return data


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
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

    @admin.display(description="试算")
    def dry_run_link(self, obj):
        from django.utils.html import format_html

        return format_html(
            '<a href="{}">试算 dry run</a>', reverse("admin:commissions_ruleset_dry_run", args=[obj.pk])
        )

    @admin.action(description="启用所选规则集（合规检查）")
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
                audit.record(
                    actor=request.user,
                    obj=rule_set,
                    message=f"启用规则集 v{rule_set.version}（通过合规检查）",
                )
                messages.success(request, f"{rule_set.name} v{rule_set.version} 已启用")
        return None

    @admin.action(description="复制为新版本草稿")
    def copy_as_new_version(self, request, queryset):
        for rule_set in queryset:
            copy = rule_services.ruleset_copy(rule_set=rule_set)
            audit.record(
                actor=request.user, obj=copy, message=f"由 v{rule_set.version} 复制为草稿", action="add"
            )
            messages.success(request, f"已创建草稿 v{copy.version}")

    @admin.action(description="停用所选规则集")
    def retire(self, request, queryset):
        for rule_set in queryset:
            try:
                rule_services.ruleset_retire(rule_set=rule_set)
            except ApplicationError as exc:
                messages.error(request, f"{rule_set}: {exc.message}")
            else:
                audit.record(actor=request.user, obj=rule_set, message=f"停用规则集 v{rule_set.version}")

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
            "title": f"试算：{rule_set}",
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
    search_fields = ["order_no", "=koc_id", "key"]
    export_filename = "commissions"
    export_columns = [
        ("佣金ID", "id"),
        ("订单号", "order_no"),
        ("KOC ID", "koc_id"),
        ("KOC 姓名", koc_name),
        ("类型", "get_kind_display"),
        ("层级", "level"),
        ("金额(元)", lambda c: _yuan(c.amount_fen)),
        ("金额(分)", "amount_fen"),
        ("已冲回(分)", "reversed_fen"),
        ("状态", "get_status_display"),
        ("可提现时间", "available_at"),
        ("计算说明", "explanation"),
    ]

    def export_queryset(self, request):
        return with_koc_name(super().export_queryset(request))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
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


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["koc_id", "is_organisation", "balances", "created_at"]
    search_fields = ["=koc_id"]

    @admin.display(description="余额 (分)")
    def balances(self, obj):
        b = selectors.account_balances(account=obj)
        return "，".join(
            f"{k} {b[k]}" for k in ("pending", "frozen", "available", "withdrawing", "paid", "tax")
        )


@admin.register(PeriodRun)
class PeriodRunAdmin(ReadOnlyAdmin):
    list_display = ["rule", "period_start", "period_end", "closed_at", "rewarded"]


# --- payouts --------------------------------------------------------------------------------------------


@admin.register(PayoutSettings)
class PayoutSettingsAdmin(admin.ModelAdmin):
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
    invoice_no = forms.CharField(label="发票号码", max_length=32)


class NeedsAttentionFilter(admin.SimpleListFilter):
    """One click to the withdrawals that failed. The engine has already returned their money to the
    KOC's available balance; what is left is to read the reason and follow up with the KOC."""

    title = "需要处理"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("failed", "失败的提现"), ("late_success", "失败后微信又确认成功")]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(status=Withdrawal.Status.FAILED)
        if self.value() == "late_success":
            return queryset.filter(late_success=True)
        return queryset


@admin.register(Withdrawal)
class WithdrawalAdmin(ExportMixin, ReadOnlyAdmin):
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
    search_fields = ["out_bill_no", "=koc_id", "transfer_bill_no"]
    export_filename = "withdrawals"
    export_columns = [
        ("提现ID", "id"),
        ("KOC ID", "koc_id"),
        ("KOC 姓名", koc_name),
        ("金额(元)", lambda w: _yuan(w.amount_fen)),
        ("代扣个税(元)", lambda w: _yuan(w.tax_fen)),
        ("实发(元)", lambda w: _yuan(w.net_fen)),
        ("状态", "get_status_display"),
        ("商户单号", "out_bill_no"),
        ("失败原因", "fail_reason"),
        ("申请时间", "created_at"),
        ("完成时间", "finished_at"),
    ]

    def export_queryset(self, request):
        return with_koc_name(super().export_queryset(request))

    actions = ["record_invoice", "mark_b2b_paid", "mark_b2b_failed", "poll_wechat", "cancel_transfer"]

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser if obj is None else False

    @admin.action(description="对公打款已完成（机构）")
    def mark_b2b_paid(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.B2B, status=Withdrawal.Status.B2B_PENDING):
            try:
                withdrawal_services.withdrawal_b2b_settle(withdrawal_id=w.pk)
            except ApplicationError as exc:
                messages.error(request, f"{w.out_bill_no}: {exc.message}")
                continue
            audit.record(actor=request.user, obj=w, message="对公打款已完成，标记到账")
            messages.success(request, f"{w.out_bill_no} 已标记到账")

    @admin.action(description="已收到机构发票（填写发票号码）")
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
                audit.record(actor=request.user, obj=w, message=f"收到发票 {form.cleaned_data['invoice_no']}")
                messages.success(request, f"{w.out_bill_no} 已登记发票")
            return None
        return TemplateResponse(
            request,
            "admin/commissions/invoice_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "登记机构发票",
                "opts": self.model._meta,
                "form": form,
                "withdrawals": pending,
                "action": "record_invoice",
            },
        )

    @admin.action(description="对公打款失败，退回余额（机构）")
    def mark_b2b_failed(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.B2B, status=Withdrawal.Status.B2B_PENDING):
            withdrawal_services.withdrawal_fail(withdrawal_id=w.pk, reason="对公打款失败")
            audit.record(actor=request.user, obj=w, message="对公打款失败，金额退回可提现余额")
            messages.success(request, f"{w.out_bill_no} 已退回")

    @admin.action(description="撤销用户未确认的微信转账")
    def cancel_transfer(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.WECHAT).order_by("pk"):
            try:
                w = withdrawal_services.withdrawal_cancel(withdrawal=w, reason=f"运营撤销 ({request.user})")
            except ApplicationError as exc:
                messages.warning(request, f"{w.out_bill_no}: {exc.message}")
                continue
            audit.record(actor=request.user, obj=w, message=f"撤销微信转账: {w.get_status_display()}")
            messages.info(request, f"{w.out_bill_no}: {w.get_status_display()}")

    @admin.action(description="向微信查询转账状态")
    def poll_wechat(self, request, queryset):
        for w in queryset.filter(channel=Withdrawal.Channel.WECHAT):
            w = withdrawal_services.withdrawal_poll(withdrawal_id=w.pk)
            messages.info(request, f"{w.out_bill_no}: {w.get_status_display()}")


class StatementForm(forms.Form):
    month = forms.CharField(label="月份 (YYYY-MM)", max_length=7)

    def clean_month(self) -> date:
        try:
            year, month = (int(p) for p in self.cleaned_data["month"].split("-"))
            return date(year, month, 1)
        except (ValueError, TypeError) as exc:
            raise ValidationError("格式为 YYYY-MM") from exc


class QuarterForm(forms.Form):
    quarter = forms.CharField(label="季度 (YYYYQn，例如 2026Q1)", max_length=6)

    def clean_quarter(self) -> tuple[int, int]:
        value = self.cleaned_data["quarter"].strip().upper()
        try:
            year, quarter = value.split("Q")
            year, quarter = int(year), int(quarter)
            reports.quarter_bounds(year, quarter)
        except ValueError as exc:
            raise ValidationError("格式为 YYYYQn，n 为 1 到 4") from exc
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

    @admin.display(description="身份证号 (脱敏)")
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
            "title": "个税扣缴申报明细（月度）",
            "opts": self.model._meta,
            "form": form,
            "intro": "某月劳务报酬代扣代缴明细：每人一行，累计预扣法的各项数字（含完整身份证号，仅供申报）。"
            "机构节点对公结算，不在此表。",
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
            "title": "平台涉税信息报送（季度，国务院令第810号）",
            "opts": self.model._meta,
            "form": form,
            "intro": "本季度获得支付的个人和机构：身份信息、收入总额、退款金额、收入净额、"
            "已支付佣金与代扣个税（含完整证件号码，仅供报送）。",
        }
        return TemplateResponse(request, "admin/commissions/tax_statement.html", context)


@admin.register(TaxDeduction)
class TaxDeductionAdmin(admin.ModelAdmin):
    """Other deductions finance records (累计依法确定的其他扣除): added, never edited or deleted
    (a payout may already have been computed on them); they count from the next payout on."""

    list_display = ["month", "koc_id", "amount_fen", "note", "created_at"]
    list_filter = ["month"]
    search_fields = ["=koc_id"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False
