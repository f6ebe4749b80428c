"""Share codes and QR scenes.

A code is 8 characters of base62 drawn with `secrets`: 62^8 ≈ 2.2 × 10^14 values, so codes cannot be
guessed or enumerated, and a million links collide with probability ~2 × 10^-3 — which the unique
constraint turns into a retry, never a shared code.

The `scene` of `getwxacodeunlimit` is at most 32 visible characters from WeChat's set
[0-9A-Za-z!#$&'()*+,/:;=?@-._~]; ours is "c=" + code (10 characters), so the mini-program reads
`options.scene` ("c%3DAbC12345" URL-encoded) and looks the code up.
"""

from __future__ import annotations

import re
import secrets
import string

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # base62
CODE_LENGTH = 8
CODE_RE = re.compile(rf"^[0-9A-Za-z]{{{CODE_LENGTH}}}$")
SCENE_MAX_LENGTH = 32
# WeChat's rule for a scene (the sandbox enforces the same).
SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
SCENE_PREFIX = "c="


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def is_code(value: object) -> bool:
    """Whether `value` has the shape of a code (anything else is junk, answered 404 without a query)."""
    return isinstance(value, str) and bool(CODE_RE.match(value))


def scene_for(code: str) -> str:
    scene = SCENE_PREFIX + code
    if not SCENE_RE.match(scene):  # never true for our codes; guards a future change of either
        raise ValueError(f"scene {scene!r} breaks WeChat's rule")
    return scene


def code_from_scene(scene: str) -> str | None:
    """The code in a scene, as the mini-program decodes it; None for anything else."""
    if not isinstance(scene, str) or not scene.startswith(SCENE_PREFIX):
        return None
    code = scene[len(SCENE_PREFIX) :]
    return code if is_code(code) else None
