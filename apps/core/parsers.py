"""The JSON parser every API view uses: a malformed body is a 400 in the error shape, never a 500.

DRF's own parser lets Python's json recurse until a RecursionError (3,000 nested `[` did it: a 500
before authentication) and passes strings with NUL through to PostgreSQL, which refuses them. The
size is bounded twice: DRF hands JSON parsers `request.body`, where Django raises RequestDataTooBig
(the exception handler answers 400 `request_too_large`), and the parser itself never reads more.
"""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .errors import ApplicationError

# Our bodies nest three or four levels (an order's items, a rule set's rules); 32 is generous.
MAX_DEPTH = 32


class RequestTooLarge(ApplicationError):
    status_code = 400
    code = "request_too_large"
    default_message = "请求体过大"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def check_structure(data, max_depth: int = MAX_DEPTH) -> None:
    """Walk the parsed body without recursion: too deep, or a NUL in any key or string, is refused."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ParseError("请求体包含空字符 (NUL)")
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise ParseError(f"JSON 嵌套超过 {max_depth} 层")
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None and "\x00" in key:
                    raise ParseError("请求体包含空字符 (NUL)")
                stack.append((item, depth + 1))


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            raw = stream.read(limit + 1) if limit is not None else stream.read()
        except RequestDataTooBig as exc:  # Django's own guard on the request stream
            raise RequestTooLarge(f"请求体超过 {limit} 字节") from exc
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"请求体超过 {limit} 字节")
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"请求体不是有效的 {encoding} 文本") from exc
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ParseError(f"JSON 嵌套超过 {MAX_DEPTH} 层") from exc
        except ValueError as exc:
            raise ParseError(f"JSON 无法解析: {exc}") from exc
        check_structure(data)
        return data
