"""A changelist filter typed into a box (a name, a phone), for choices too many to list."""

from __future__ import annotations

from django.contrib import admin


class InputFilter(admin.SimpleListFilter):
    template = "admin/input_filter.html"

    def lookups(self, request, model_admin):
        return [("", "")]  # the filter shows only when it has a lookup; the box is the real input

    def has_output(self) -> bool:
        return True

    def choices(self, changelist):
        # The other filters and the search stay as they are when this one is applied.
        others = [
            (key, value)
            for key, values in changelist.get_filters_params().items()
            if key != self.parameter_name
            for value in (values if isinstance(values, list) else [values])
        ]
        if changelist.query:
            others.append(("q", changelist.query))
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "others": others,
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }
