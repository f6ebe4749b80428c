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
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings

from .keys import private_pem, sandbox_keys, stored

CERT_FILE = "wechat-sandbox-platform-cert.json"


@dataclass(frozen=True)
class SandboxCertificate:
    private_key: str
    certificate: str
    serial_no: str  # upper-case hex, as WeChat Pay writes it in Wechatpay-Serial


def cert_path() -> Path:
    return Path(settings.VAR_DIR) / CERT_FILE


def sandbox_certificate() -> SandboxCertificate:
    return stored(cert_path(), SandboxCertificate, generate)


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
        private_key=private_pem(key),
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        serial_no=f"{certificate.serial_number:X}",
    )


def platform_signer() -> tuple[str, str]:
    """(private key PEM, Wechatpay-Serial) the sandbox signs with now."""
    if settings.WECHAT_SANDBOX_PAY_SIGNER == "certificate":
        cert = sandbox_certificate()
        return cert.private_key, cert.serial_no
    keys = sandbox_keys()
    return keys.platform_private_key, keys.platform_public_key_id
