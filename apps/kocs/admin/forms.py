"""The KOC admin's forms: adding a KOC, the action forms (reason, level, move), editing, inviting."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.shop.models import Brand

from .. import services
from ..models import (
    Koc,
    Level,
)
from .autocomplete import KocAutocompleteSelect, koc_label


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


class KocChoiceField(forms.ModelChoiceField):
    """A KOC chosen by autocomplete, shown as name · role · invite code (equal names stay apart)."""

    def label_from_instance(self, obj) -> str:
        return koc_label(obj)


class MoveForm(ReasonForm):
    """调整上级: the new parent is an autocomplete over the approved KOCs (never a list of all of them)."""

    new_parent = KocChoiceField(
        label="新上级 (留空: 成为顶层节点)",
        queryset=Koc.objects.filter(status=Koc.Status.APPROVED).select_related("user"),
        required=False,
    )

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["new_parent"]
        field.widget = KocAutocompleteSelect(
            Koc._meta.get_field("parent"), admin_site, attrs={"style": "width: 36em"}
        )
        field.widget.choices = field.choices


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


class InviteForm(forms.Form):
    brand = forms.ModelChoiceField(label="品牌", queryset=Brand.objects.order_by("name"))
    message = forms.CharField(
        label="邀请语", max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
