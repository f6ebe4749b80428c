"""The sandbox's WeChat Pay keys: generated once per machine, shared by every process through one file.

Two RSA key pairs, as in real WeChat Pay API v3 (public-key mode):
- the merchant's API key: the project signs its requests with the private half; the sandbox, like
  WeChat, verifies them with the public half;
- WeChat Pay's platform key: the sandbox signs its answers and notifications with the private half;
  the project verifies them with the public half and its `public_key_id`.
Plus the merchant's APIv3 key, with which notifications' resources are encrypted.

The file (settings.VAR_DIR / wechat-sandbox-keys.json) is created atomically: written to a temporary
file and linked into place, so the web server and the Celery worker, starting together, agree on
one set of keys (the loser of the race reads the winner's file).
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

KEYS_FILE = "wechat-sandbox-keys.json"

T = TypeVar("T")
_cache: dict[Path, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxKeys:
    merchant_private_key: str
    merchant_public_key: str
    merchant_serial_no: str
    platform_private_key: str
    platform_public_key: str
    platform_public_key_id: str
    apiv3_key: str


def keys_path() -> Path:
    return Path(settings.VAR_DIR) / KEYS_FILE


def sandbox_keys() -> SandboxKeys:
    return stored(keys_path(), SandboxKeys, generate)


def stored(path: Path, kind: type[T], make: Callable[[], T]) -> T:
    """The dataclass kept in `path`: read once per process, created by `make()` if the file is missing."""
    with _lock:
        value = _cache.get(path)
        if value is None:
            value = _load(path, kind) or _create(path, make)
            _cache[path] = value
        return value


def _load(path: Path, kind: type[T]) -> T | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return kind(**data)


def _create(path: Path, make: Callable[[], T]) -> T:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(value), out)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # fails if another process created the file first
        except FileExistsError:
            return _load(path, type(value)) or value
        return value
    finally:
        os.unlink(tmp)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = private_pem(key)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def generate() -> SandboxKeys:
    merchant_private, merchant_public = _key_pair()
    platform_private, platform_public = _key_pair()
    alphabet = string.ascii_letters + string.digits
    return SandboxKeys(
        merchant_private_key=merchant_private,
        merchant_public_key=merchant_public,
        merchant_serial_no=secrets.token_hex(20).upper(),
        platform_private_key=platform_private,
        platform_public_key=platform_public,
        platform_public_key_id="PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(32)),
        apiv3_key="".join(secrets.choice(alphabet) for _ in range(32)),
    )
