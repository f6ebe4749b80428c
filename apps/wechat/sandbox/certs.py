"""The sandbox's WeChat Pay platform certificate, next to its WeChat Pay public key (keys.py).

Merchants migrating from platform certificates to the WeChat Pay public key receive answers and
notifications signed with either during the migration, `Wechatpay-Serial` naming which: the public
key's id (PUB_KEY_ID_...) or the certificate's serial number (hex). The sandbox holds a certificate
with its own key pair so that the project's choice by serial is really exercised (a signature made
with the certificate's key does not verify with the public key). Which one the sandbox signs with
is settings.WECHAT_SANDBOX_PAY_SIGNER ("public_key" or "certificate").

Created once per machine like keys.py: written to a temporary file and linked into place.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings

from .keys import sandbox_keys

CERT_FILE = "wechat-sandbox-platform-cert.json"
_cache: dict[Path, SandboxCertificate] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxCertificate:
    private_key: str
    certificate: str
    serial_no: str  # upper-case hex, as WeChat Pay writes it in Wechatpay-Serial


def cert_path() -> Path:
    return Path(settings.VAR_DIR) / CERT_FILE


def sandbox_certificate() -> SandboxCertificate:
    path = cert_path()
    with _lock:
        cert = _cache.get(path)
        if cert is None:
            cert = _load(path) or _create(path)
            _cache[path] = cert
        return cert


def _load(path: Path) -> SandboxCertificate | None:
    try:
        return SandboxCertificate(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def generate() -> SandboxCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (sandbox)")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=5 * 365))
        .sign(key, hashes.SHA256())
    )
    return SandboxCertificate(
        private_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        serial_no=f"{certificate.serial_number:X}",
    )


def _create(path: Path) -> SandboxCertificate:
    path.parent.mkdir(parents=True, exist_ok=True)
    cert = generate()
    fd, tmp = tempfile.mkstemp(prefix=".wechat-sandbox-cert-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(cert), out)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _load(path) or cert
        return cert
    finally:
        os.unlink(tmp)


def platform_signer() -> tuple[str, str]:
    """(private key PEM, Wechatpay-Serial) the sandbox signs with now."""
    if settings.WECHAT_SANDBOX_PAY_SIGNER == "certificate":
        cert = sandbox_certificate()
        return cert.private_key, cert.serial_no
    keys = sandbox_keys()
    return keys.platform_private_key, keys.platform_public_key_id
