"""The one place the environment is read from."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
APPS_DIR = BASE_DIR / "apps"

env = environ.Env()
env.read_env(str(BASE_DIR / ".env"), overwrite=False) if (BASE_DIR / ".env").exists() else None


def derived_key(secret: str, purpose: str) -> str:
    """A Fernet key derived from a secret: development and test settings only (production sets keys)."""
    import base64
    import hashlib

    digest = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()
