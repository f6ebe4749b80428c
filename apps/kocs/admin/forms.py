"""The KOC admin's forms: adding a KOC, the action forms (reason, level, move), editing, inviting."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError
from apps.shop.models import Brand

from .. import services
from ..models import (
    Koc,
    Level,
)
from .autocomplete import KocAutocompleteSelect, koc_label
from .common import error_text, placement_text


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
        self.fields["invite_code"].help_text = _("Leave empty to draw one")

    def clean(self):
        data = super().clean()
        user = data.get("user")
        if user is not None and Koc.objects.filter(user=user).exists():
            self.add_error("user", _("This user is already a KOC or has applied."))
        role = data.get("role")
        if role:
            try:
                services.check_placement(role=role, parent=data.get("parent"))
            except ApplicationError as exc:
                text = placement_text(role, data.get("parent")) or error_text(exc)
                raise forms.ValidationError({"parent": text}) from exc
        return data

    def clean_id_number(self) -> str:
        number = self.cleaned_data.get("id_number", "")
        if number:
            try:
                services.identity_fields(number)
            except ApplicationError as exc:
                raise forms.ValidationError(error_text(exc)) from exc
        return number

    def validate_unique(self):
        # The service claims the invite code (and refuses a taken one) under the tree lock.
        pass


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, widget=forms.TextInput(attrs={"size": 60}))


class SetLevelForm(ReasonForm):
    level = forms.ModelChoiceField(label=_("Level"), queryset=Level.objects.order_by("rank"), required=False)
    hold_until = forms.DateField(
        label=_("Hold until (inclusive)"),
        help_text=_(
            "Until this date (inclusive) the automatic evaluation leaves the level alone; "
            "after it, the conditions and the downgrade rule apply again"
        ),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_hold_until(self):
        value = self.cleaned_data["hold_until"]
        if value < timezone.localdate():
            raise forms.ValidationError(_("The hold date cannot be before today"))
        return value


class KocChoiceField(forms.ModelChoiceField):
    """A KOC chosen by autocomplete, shown as name · role · invite code (equal names stay apart)."""

    def label_from_instance(self, obj) -> str:
        return koc_label(obj)


class MoveForm(ReasonForm):
    """调整上级: the new parent is an autocomplete over the approved KOCs (never a list of all of them)."""

    new_parent = KocChoiceField(
        label=_("New parent (empty: becomes a top-level node)"),
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
        label=_("New ID number"),
        required=False,
        max_length=32,
        help_text=_("Leave empty to keep the current one; once saved only the masked number is shown"),
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
                raise forms.ValidationError(error_text(exc)) from exc
        return number


class InviteForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.order_by("name"))
    message = forms.CharField(
        label=_("Invitation message"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
