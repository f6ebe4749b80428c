"""Admin for the platform and brand staff: KOC review, the team tree, tiers, brand partnerships.

Every change goes through the services: approvals, rejections, moves and level changes are actions
with a form (reason required), so the admin obeys the tree lock and writes the same history as
everything else. The parent is never edited in a form: a bare save of a tree node is how
django-mptt trees get corrupted.

A brand operator (品牌运营) sees only the KOCs partnered with its brand (an accepted invitation),
without their real names and ID numbers, and invites for its own brand only; it changes nothing
here (the actions need the change permission). Approvals, rejections and level changes are written
to each KOC's History page by the services, with the acting user.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError
from apps.core.exports import ExportMixin
from apps.core.money import yuan
from apps.shop.brand_scope import BrandScopedAdminMixin, brand_scope
from apps.shop.models import Brand

from . import selectors, services
from .models import (
    BrandInvitation,
    Koc,
    KocOrderLine,
    KocParentHistory,
    KocProductPick,
    KocSale,
    Level,
    LevelHistory,
    TierPolicy,
)
from .selectors import partnered_koc_ids

TREE_VIEW_LIMIT = 2_000


@admin.register(Level)
class LevelAdmin(admin.ModelAdmin):
    list_display = [
        "rank",
        "name",
        "own_sales_yuan",
        "team_sales_yuan",
        "min_active_direct_kocs",
        "commission_bonus_percent",
        "own_purchase_discount_percent",
        "members",
    ]
    list_display_links = ["rank", "name"]
    ordering = ["rank"]

    @admin.display(description="个人成交额门槛 (元)")
    def own_sales_yuan(self, level: Level) -> str:
        return yuan(level.min_own_sales_fen)

    @admin.display(description="团队成交额门槛 (元)")
    def team_sales_yuan(self, level: Level) -> str:
        return yuan(level.min_team_sales_fen)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_count=Count("kocs"))

    @admin.display(description="人数", ordering="members_count")
    def members(self, level: Level) -> int:
        return level.members_count


class BranchFilter(admin.SimpleListFilter):
    """Everything under one branch (分公司): a range of its nested set."""

    title = "分公司"
    parameter_name = "branch"

    def lookups(self, request, model_admin):
        branches = Koc.objects.filter(role=Koc.Role.BRANCH).order_by("tree_id")
        return [(str(b.pk), b.legal_name) for b in branches]

    def queryset(self, request, queryset):
        if not self.value() or not self.value().isdigit():
            return queryset
        branch = Koc.objects.filter(pk=int(self.value()), role=Koc.Role.BRANCH).first()
        if branch is None:
            return queryset.none()
        return queryset.filter(tree_id=branch.tree_id, lft__gte=branch.lft, lft__lte=branch.rght)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TierPolicy)
class TierPolicyAdmin(admin.ModelAdmin):
    """The one row of tier rules: whether and when a KOC below its level's conditions is lowered."""

    list_display = ["__str__", "downgrade", "downgrade_after_days", "updated_at"]
    fields = ["downgrade", "downgrade_after_days", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return not TierPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        policy = TierPolicy.load()
        return HttpResponseRedirect(reverse("admin:kocs_tierpolicy_change", args=[policy.pk]))


class ParentHistoryInline(ReadOnlyInline):
    model = KocParentHistory
    fk_name = "koc"
    fields = ["parent", "valid_from", "valid_to", "reason", "changed_by"]
    readonly_fields = fields
    verbose_name_plural = "上级变更记录 (谁在何时是谁的上级)"


class LevelHistoryInline(ReadOnlyInline):
    model = LevelHistory
    fields = ["at", "from_level", "to_level", "automatic", "reason", "held_until", "changed_by", "stats"]
    readonly_fields = fields


class PickInline(ReadOnlyInline):
    model = KocProductPick
    fields = ["position", "product", "created_at"]
    readonly_fields = fields


class InvitationInline(ReadOnlyInline):
    model = BrandInvitation
    fields = ["brand", "status", "message", "affinity_score", "created_at", "responded_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        brands = brand_scope(request.user)
        queryset = super().get_queryset(request)
        return queryset if brands is None else queryset.filter(brand_id__in=brands)


class KocAddForm(forms.ModelForm):
    """Operators add organisation nodes (and individuals by hand) directly under a parent."""

    class Meta:
        model = Koc
        fields = [
            "role",
            "parent",
            "user",
            "legal_name",
            "registration_number",
            "real_name",
            "id_number",
            "bio",
            "invite_code",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = Koc.objects.filter(status=Koc.Status.APPROVED).order_by(
            "tree_id", "lft"
        )
        self.fields["parent"].required = False
        self.fields["invite_code"].required = False
        self.fields["invite_code"].help_text = "留空自动生成"

    def clean(self):
        data = super().clean()
        user = data.get("user")
        if user is not None and Koc.objects.filter(user=user).exists():
            self.add_error("user", "该用户已是 KOC 或已提交申请")
        role = data.get("role")
        if role:
            try:
                services.check_placement(role=role, parent=data.get("parent"))
            except ApplicationError as exc:
                raise forms.ValidationError({"parent": exc.message}) from exc
        return data

    def clean_id_number(self) -> str:
        number = self.cleaned_data.get("id_number", "")
        if number:
            try:
                services.identity_fields(number)
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from exc
        return number

    def validate_unique(self):
        # The service claims the invite code (and refuses a taken one) under the tree lock.
        pass


class ReasonForm(forms.Form):
    reason = forms.CharField(label="原因", max_length=200, widget=forms.TextInput(attrs={"size": 60}))


class SetLevelForm(ReasonForm):
    level = forms.ModelChoiceField(label="等级", queryset=Level.objects.order_by("rank"), required=False)
    hold_until = forms.DateField(
        label="保持至 (含当天)",
        help_text="在此日期之前（含当天）自动评估不改变该等级；之后按条件和降级规则重新评估",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_hold_until(self):
        value = self.cleaned_data["hold_until"]
        if value < timezone.localdate():
            raise forms.ValidationError("保持日期不能早于今天")
        return value


class MoveForm(ReasonForm):
    new_parent = forms.ModelChoiceField(
        label="新上级 (留空: 成为顶层节点)",
        queryset=Koc.objects.filter(status=Koc.Status.APPROVED).order_by("tree_id", "lft"),
        required=False,
    )


PERSONAL_FIELDS = {"real_name", "id_number", "new_id_number"}  # never shown to brand operators


class KocChangeForm(forms.ModelForm):
    """The ID number is write-only here: the page shows it masked and takes a new one (never echoed)."""

    new_id_number = forms.CharField(
        label="新身份证号",
        required=False,
        max_length=32,
        help_text="留空不修改；保存后只显示脱敏号码",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Koc
        # Every editable field the fieldsets show; the ID number only ever through new_id_number.
        fields = ["real_name", "legal_name", "registration_number", "bio", "favorite_categories"]

    def clean_new_id_number(self) -> str:
        number = self.cleaned_data.get("new_id_number", "")
        if number:
            try:
                services.identity_fields(number, koc_id=self.instance.pk)
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from exc
        return number


def _approval(queryset) -> Confirmation:
    """Who will be approved, and under whom each lands in the team (its inviter)."""
    kocs = list(queryset.select_related("user", "sponsor", "sponsor__user").order_by("pk"))
    pending = [k for k in kocs if k.status == Koc.Status.PENDING]
    warnings = []
    if len(pending) < len(kocs):
        warnings.append(f"另有 {len(kocs) - len(pending)} 个不是“待审核”状态，不会通过")
    return Confirmation(
        title="确认通过 KOC 申请",
        button=f"确认通过 {len(pending)} 个申请",
        effects=[
            f"将通过 {len(pending)} 个 KOC 申请：每人放到邀请人之下，成为其团队成员，可开始分享赚取佣金"
        ],
        warnings=warnings,
        headers=["名称", "角色", "状态", "上级（邀请人）", "申请时间"],
        rows=[
            [
                k.display_name,
                k.get_role_display(),
                k.get_status_display(),
                k.sponsor.display_name if k.sponsor_id else "无（顶层）",
                f"{timezone.localtime(k.applied_at):%Y-%m-%d %H:%M}" if k.applied_at else "",
            ]
            for k in kocs
        ],
    )


@admin.register(Koc)
class KocAdmin(BrandScopedAdminMixin, ExportMixin, admin.ModelAdmin):
    brand_fields = ()
    export_filename = "kocs"
    export_columns = [
        ("ID", "id"),
        ("名称", "display_name"),
        ("角色", "get_role_display"),
        ("状态", "get_status_display"),
        ("等级", "level__name"),
        ("上级 ID", "parent_id"),
        ("邀请码", "invite_code"),
        ("真实姓名（脱敏）", "real_name_masked"),
        ("身份证号（脱敏）", "id_number_masked"),
        ("公司全称", "legal_name"),
        ("申请时间", "applied_at"),
        ("通过时间", "approved_at"),
    ]
    list_display = [
        "id",
        "tree_name",
        "role",
        "status",
        "level",
        "parent",
        "team_size_display",
        "invite_code",
        "real_name_masked",
        "id_number_masked",
        "applied_at",
    ]
    list_display_links = ["id", "tree_name"]
    list_filter = ["status", "role", "level", BranchFilter]
    list_select_related = ["user", "level", "parent__user"]
    search_fields = ["invite_code", "user__nickname", "user__openid", "legal_name", "=real_name"]
    ordering = ["tree_id", "lft"]
    actions = ["approve", "reject", "set_level", "move", "suspend", "reinstate"]
    inlines = [ParentHistoryInline, LevelHistoryInline, PickInline, InvitationInline]
    change_list_template = "admin/kocs/koc/change_list.html"
    readonly_fields = [
        "user",
        "role",
        "status",
        "parent",
        "sponsor",
        "level",
        "level_held_until",
        "level_below_since",
        "invite_code",
        "real_name_masked",
        "id_number_masked",
        "rejection_reason",
        "applied_at",
        "reviewed_at",
        "reviewed_by",
        "approved_at",
        "team_size_display",
    ]
    fieldsets = [
        (None, {"fields": ["user", "role", "status", "parent", "sponsor", "invite_code"]}),
        ("等级", {"fields": ["level", "level_held_until", "level_below_since"]}),
        (
            "个人 (报税用，列表中脱敏显示)",
            {"fields": ["real_name_masked", "real_name", "id_number_masked", "new_id_number"]},
        ),
        ("机构 (公司，B2B 结算)", {"fields": ["legal_name", "registration_number"]}),
        ("资料", {"fields": ["bio", "favorite_categories"]}),
        (
            "审核",
            {"fields": ["rejection_reason", "applied_at", "reviewed_at", "reviewed_by", "approved_at"]},
        ),
        ("团队", {"fields": ["team_size_display"]}),
    ]
    filter_horizontal = ["favorite_categories"]

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a node would restructure the tree outside the lock

    def scope_queryset(self, queryset, brands):
        return queryset.filter(pk__in=partnered_koc_ids(brands))

    def get_list_filter(self, request):
        if brand_scope(request.user) is not None:  # the branch names are the platform's, not the brand's
            return [f for f in self.list_filter if f is not BranchFilter]
        return self.list_filter

    def get_search_fields(self, request):
        if brand_scope(request.user) is not None:
            return [f for f in self.search_fields if f.lstrip("=") not in PERSONAL_FIELDS]
        return self.search_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = KocAddForm
            kwargs["fields"] = KocAddForm.Meta.fields
        else:
            kwargs["form"] = KocChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": KocAddForm.Meta.fields})]
        fieldsets = super().get_fieldsets(request, obj)
        if brand_scope(request.user) is not None:
            fieldsets = [
                (name, {**opts, "fields": [f for f in opts["fields"] if f not in PERSONAL_FIELDS]})
                for name, opts in fieldsets
            ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if not change:
            data = form.cleaned_data
            created = services.koc_create(
                role=data["role"],
                parent=data.get("parent"),
                user=data.get("user"),
                legal_name=data.get("legal_name", ""),
                registration_number=data.get("registration_number", ""),
                real_name=data.get("real_name", ""),
                id_number=data.get("id_number", ""),
                bio=data.get("bio", ""),
                invite_code=data.get("invite_code") or "",
                by=request.user,
                reason="后台创建",
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()
            return
        # Only what the form changed, never the tree fields of a possibly stale instance.
        editable = {"real_name", "legal_name", "registration_number", "bio"}
        fields = [f for f in form.changed_data if f in editable]
        if fields:
            obj.save(update_fields=fields)
        if form.cleaned_data.get("new_id_number"):
            services.koc_identity_set(
                koc=obj,
                real_name=obj.real_name,
                id_number=form.cleaned_data["new_id_number"],
                by=request.user,
            )
            obj.refresh_from_db()

    @admin.display(description="名称 (树形缩进)")
    def tree_name(self, koc: Koc) -> str:
        return format_html('<span style="padding-left:{}em">{}</span>', koc.depth * 1.5, koc.display_name)

    @admin.display(description="团队人数")
    def team_size_display(self, koc: Koc) -> int:
        return koc.team_size

    @admin.display(description="真实姓名 (脱敏)")
    def real_name_masked(self, koc: Koc) -> str:
        return koc.real_name_masked

    @admin.display(description="身份证号 (脱敏)")
    def id_number_masked(self, koc: Koc) -> str:
        return koc.id_number_masked

    # --- actions ----------------------------------------------------------------------------------

    def _run(self, request, queryset, label: str, fn) -> None:
        done, failed = 0, []
        for koc in queryset.order_by("pk"):
            try:
                fn(koc)
                done += 1
            except ApplicationError as exc:
                failed.append(f"{koc.display_name}: {exc.message}")
        if done:
            self.message_user(request, f"{label}: {done} 个", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    def _form_action(self, request, queryset, *, form_class, title: str, action: str, apply, label: str):
        form = form_class(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            self._run(request, queryset, label, lambda koc: apply(koc, form.cleaned_data))
            return None
        return TemplateResponse(
            request,
            "admin/kocs/koc/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "queryset": queryset,
                "action": action,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="通过申请 (放到邀请人之下)", permissions=["change"])
    def approve(self, request, queryset):
        if not is_confirmed(request):
            return confirmation_page(
                self, request, queryset, action="approve", confirmation=_approval(queryset)
            )
        self._run(request, queryset, "已通过", lambda koc: services.koc_approve(koc=koc, by=request.user))
        return None

    @admin.action(description="拒绝申请 (填写原因，申请人可见)", permissions=["change"])
    def reject(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=ReasonForm,
            title="拒绝申请",
            action="reject",
            label="已拒绝",
            apply=lambda koc, data: services.koc_reject(koc=koc, by=request.user, reason=data["reason"]),
        )

    @admin.action(description="设置等级 (填写原因和保持日期)", permissions=["change"])
    def set_level(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=SetLevelForm,
            title="设置等级",
            action="set_level",
            label="等级已设置",
            apply=lambda koc, data: services.koc_set_level(
                koc=koc,
                level=data["level"],
                by=request.user,
                reason=data["reason"],
                hold_until=data["hold_until"],
            ),
        )

    @admin.action(description="调整上级 (整棵子树移动，保留历史)", permissions=["change"])
    def move(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=MoveForm,
            title="调整上级",
            action="move",
            label="已移动",
            apply=lambda koc, data: services.koc_move(
                koc=koc, new_parent=data["new_parent"], by=request.user, reason=data["reason"]
            ),
        )

    @admin.action(description="停用", permissions=["change"])
    def suspend(self, request, queryset):
        self._run(
            request,
            queryset,
            "已停用",
            lambda koc: services.koc_set_status(koc=koc, status=Koc.Status.SUSPENDED, by=request.user),
        )

    @admin.action(description="恢复", permissions=["change"])
    def reinstate(self, request, queryset):
        self._run(
            request,
            queryset,
            "已恢复",
            lambda koc: services.koc_set_status(koc=koc, status=Koc.Status.APPROVED, by=request.user),
        )

    # --- the tree view ----------------------------------------------------------------------------

    def get_urls(self):
        return [
            path("tree/", self.admin_site.admin_view(self.tree_view), name="kocs_koc_tree"),
            *super().get_urls(),
        ]

    def tree_view(self, request):
        """The team tree, indented, with team sizes and team sales: two queries for the whole view."""
        if brand_scope(request.user) is not None or not self.has_view_permission(request):
            raise PermissionDenied  # the platform's structure is not a brand's business
        nodes = Koc.objects.select_related("user", "level").order_by("tree_id", "lft")
        root_id = request.GET.get("root", "")
        root = Koc.objects.filter(pk=int(root_id)).first() if root_id.isdigit() else None
        if root is not None:
            nodes = nodes.filter(tree_id=root.tree_id, lft__gte=root.lft, lft__lte=root.rght)
        else:
            nodes = nodes.exclude(status__in=[Koc.Status.PENDING, Koc.Status.REJECTED])
        nodes = list(nodes[:TREE_VIEW_LIMIT])
        own = dict(
            KocSale.objects.filter(koc__in=[n.pk for n in nodes])
            .values_list("koc")
            .annotate(total=Sum("amount_fen"))
            .values_list("koc", "total")
        )
        # Team sales bottom-up over the nested set: a node's total is its own plus its children's.
        team = {n.pk: own.get(n.pk, 0) for n in nodes}
        for node in sorted(nodes, key=lambda n: n.depth, reverse=True):
            if node.parent_id in team:
                team[node.parent_id] += team[node.pk]
        rows = [
            {
                "koc": n,
                "indent": n.depth * 1.5,
                "team_size": n.team_size,
                "own_sales": yuan(own.get(n.pk, 0)),
                "team_sales": yuan(team[n.pk]),
            }
            for n in nodes
        ]
        return TemplateResponse(
            request,
            "admin/kocs/koc/tree.html",
            {
                **self.admin_site.each_context(request),
                "title": "团队树 Team tree",
                "opts": self.model._meta,
                "rows": rows,
                "root": root,
                "truncated": len(nodes) >= TREE_VIEW_LIMIT,
                "limit": TREE_VIEW_LIMIT,
            },
        )


class InviteForm(forms.Form):
    brand = forms.ModelChoiceField(label="品牌", queryset=Brand.objects.order_by("name"))
    message = forms.CharField(
        label="邀请语", max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


@admin.register(BrandInvitation)
class BrandInvitationAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "brand", "koc", "status", "affinity_score", "message", "created_at", "responded_at"]
    list_filter = ["status", "brand"]
    list_select_related = ["brand", "koc__user"]
    search_fields = ["koc__invite_code", "koc__user__nickname", "brand__name"]
    readonly_fields = [
        "brand",
        "koc",
        "status",
        "message",
        "affinity_score",
        "invited_by",
        "created_at",
        "responded_at",
    ]
    change_list_template = "admin/kocs/brandinvitation/change_list.html"

    def has_add_permission(self, request):
        return False  # invitations are made from the affinity ranking

    def get_urls(self):
        return [
            path("affinity/", self.admin_site.admin_view(self.affinity_view), name="kocs_brand_affinity"),
            *super().get_urls(),
        ]

    def affinity_view(self, request):
        """KOCs ranked by affinity to a brand, with the parts of the score; invite the chosen ones."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and not request.user.has_perm("kocs.add_brandinvitation"):
            raise PermissionDenied
        scope = brand_scope(request.user)
        brands = Brand.objects.order_by("name")
        if scope is not None:  # a brand operator ranks and invites for its own brand only
            brands = brands.filter(pk__in=scope)
        brand_id = request.POST.get("brand") or request.GET.get("brand") or ""
        brand = brands.filter(pk=int(brand_id)).first() if str(brand_id).isdigit() else None
        if brand is None and scope is not None:
            brand = brands.first()
        form = InviteForm(request.POST or None, initial={"brand": brand})
        form.fields["brand"].queryset = brands
        if request.method == "POST" and form.is_valid():
            brand = form.cleaned_data["brand"]
            ranked = {k.pk: k for k in selectors.brand_affinity(brand_id=brand.pk, limit=500)}
            invited, failed = 0, []
            for koc_id in request.POST.getlist("koc"):
                koc = ranked.get(int(koc_id)) if koc_id.isdigit() else None
                if koc is None:
                    continue
                try:
                    services.brand_invitation_create(
                        brand=brand,
                        koc=koc,
                        message=form.cleaned_data["message"],
                        by=request.user,
                        affinity_score=koc.affinity_score,
                    )
                    invited += 1
                except ApplicationError as exc:
                    failed.append(f"{koc.display_name}: {exc.message}")
            if invited:
                self.message_user(request, f"已邀请 {invited} 位 KOC", messages.SUCCESS)
            for line in failed:
                self.message_user(request, line, messages.ERROR)
            return HttpResponseRedirect(f"{reverse('admin:kocs_brand_affinity')}?brand={brand.pk}")
        rows = selectors.brand_affinity(brand_id=brand.pk) if brand else []
        for koc in rows:
            koc.bought_yuan = yuan(koc.bought_fen)
            koc.sold_yuan = yuan(koc.sold_fen)
        return TemplateResponse(
            request,
            "admin/kocs/brandinvitation/affinity.html",
            {
                **self.admin_site.each_context(request),
                "title": "按喜好找 KOC (品牌亲和度)",
                "opts": self.model._meta,
                "form": form,
                "brand": brand,
                "brands": brands,
                "rows": rows,
                "explanation": selectors.AFFINITY_EXPLANATION,
            },
        )


@admin.register(KocSale)
class KocSaleAdmin(admin.ModelAdmin):
    list_display = ["order_no", "koc", "paid_fen", "refunded_fen", "amount_fen", "units", "completed_at"]
    list_select_related = ["koc__user"]
    search_fields = ["order_no", "koc__invite_code"]
    date_hierarchy = "completed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(KocOrderLine)
class KocOrderLineAdmin(KocSaleAdmin):
    list_display = ["order_id", "kind", "koc", "brand_id", "product_id", "quantity", "line_fen", "refunded"]
    list_filter = ["kind", "refunded"]
    search_fields = ["koc__invite_code"]
    date_hierarchy = "completed_at"
