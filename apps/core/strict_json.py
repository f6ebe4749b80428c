"""JSON bodies are type-exact: a string field refuses 0, an integer field refuses "5".

DRF coerces between JSON types (CharField turns 0 into "0", IntegerField turns "5" into 5), so the
API would accept bodies its own OpenAPI schema calls invalid, and clients would learn to send the
wrong types. Query strings and multipart forms arrive as a QueryDict, where everything is text: there
DRF's coercion stays.
"""

from __future__ import annotations

from django.http import QueryDict
from rest_framework import fields

_JSON_TYPES: list[tuple[type[fields.Field], tuple[type, ...]]] = [
    (fields.CharField, (str,)),
    (fields.IntegerField, (int,)),
    (fields.FloatField, (int, float)),
    (fields.BooleanField, (bool,)),
]


def _is_json_body(field: fields.Field) -> bool:
    data = getattr(field.root, "initial_data", None)
    return data is not None and not isinstance(data, QueryDict)


def _strict(original, allowed: tuple[type, ...]):
    def to_internal_value(self, data):
        if _is_json_body(self):
            wrong_bool = isinstance(data, bool) and bool not in allowed
            if wrong_bool or not isinstance(data, allowed):
                self.fail("invalid")
        return original(self, data)

    to_internal_value.__wrapped__ = original
    return to_internal_value


def install() -> None:
    for klass, allowed in _JSON_TYPES:
        if not hasattr(klass.to_internal_value, "__wrapped__"):
            klass.to_internal_value = _strict(klass.to_internal_value, allowed)
