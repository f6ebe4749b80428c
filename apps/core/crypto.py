"""Personal data encrypted at rest: Fernet (the `cryptography` package) with keys from the environment.

`IDENTITY_ENCRYPTION_KEYS` is a comma-separated list of Fernet keys (`Fernet.generate_key()`): the
first encrypts, every one of them decrypts (MultiFernet), so a key is rotated without downtime:

1. put a new key first in the list and restart (new writes use it, old rows still read);
2. `python manage.py rotate_identity_keys` re-encrypts every stored value with the first key;
3. drop the old key from the list and restart.

Fernet is authenticated (AES-128-CBC + HMAC-SHA256) and randomised: the same number encrypts to a
different token each time, so equality lookups need `lookup_digest` (a keyed HMAC, its own key
`IDENTITY_LOOKUP_KEY`, never rotated without recomputing the digests).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"  # marks a stored token, so a plaintext left by an old row is recognised, not mangled


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("IDENTITY_ENCRYPTION_KEYS is empty: personal data cannot be stored")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"IDENTITY_ENCRYPTION_KEYS holds a malformed Fernet key: {exc}") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.IDENTITY_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    if not value:
        return ""
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return stored  # written before encryption (the migration encrypts these; rotate does too)
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "a stored identity does not decrypt with any key of IDENTITY_ENCRYPTION_KEYS"
        ) from exc


def rotate(stored: str) -> str:
    """The same value encrypted with the first key (MultiFernet.rotate keeps the original timestamp)."""
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()


def lookup_digest(value: str) -> str:
    """A keyed digest for uniqueness checks: equal values, equal digests; useless without the key."""
    if not value:
        return ""
    key = settings.IDENTITY_LOOKUP_KEY.encode()
    if not key:
        raise ImproperlyConfigured("IDENTITY_LOOKUP_KEY is empty")
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python sees the plaintext. No lookups but isnull/exact ''."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def to_python(self, value):
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt(value)
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "" or value.startswith(PREFIX):
            return value
        return encrypt(value)
