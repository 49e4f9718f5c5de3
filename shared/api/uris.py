"""Signed, expiring image URLs that a browser ``<img>`` or an app can fetch without a key header.

Custom Vision hands out SAS URLs to blob storage; we hand out URLs to our own artifact route,
signed with an HMAC derived from the training key. Expiry is rounded to the day so that the same
image keeps the same URL for a while (browsers can cache it).

Rotation: links are signed with a secret derived from training key 1 and accepted when signed with
either training key's. A link is as good as the key it derives from, so a key that is removed takes
its links with it (a leaked key must not keep minting working links), while a rotation that moves
the old key 1 into the key 2 slot (and a new key into slot 1) keeps every link issued working. Links
expire within two days anyway, and every listing hands out fresh ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

__all__ = ["ARTIFACT_PREFIX", "UriSigner"]

ARTIFACT_PREFIX = "/artifacts/projects"
_DAY = 86_400
_VALID_DAYS = 2


def _secret(training_key: str) -> bytes:
    return hashlib.sha256(b"cvstudio-uri-signing:" + training_key.encode()).digest()


class UriSigner:
    def __init__(self, training_keys: str | Sequence[str]) -> None:
        keys = (training_keys,) if isinstance(training_keys, str) else tuple(training_keys)
        # No training key: a process that serves only predictions, which hands out no links.
        self._secrets = [_secret(key) for key in keys if key] or [secrets.token_bytes(32)]

    def _signature(self, path: str, expires: int, secret: bytes | None = None) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(secret or self._secrets[0], message, hashlib.sha256).hexdigest()[:32]

    def image_path(self, project_id: str, image_id: str, rendition: str) -> str:
        return f"{ARTIFACT_PREFIX}/{project_id}/images/{image_id}/{rendition}"

    def prediction_path(self, project_id: str, prediction_id: str, rendition: str) -> str:
        return f"{ARTIFACT_PREFIX}/{project_id}/predictions/{prediction_id}/{rendition}"

    def export_path(self, project_id: str, iteration_id: str, file_name: str) -> str:
        return f"{ARTIFACT_PREFIX}/{project_id}/iterations/{iteration_id}/exports/{file_name}"

    def sign(self, path: str, now: float | None = None) -> str:
        expires = (int(now if now is not None else time.time()) // _DAY + _VALID_DAYS) * _DAY
        return f"{path}?expires={expires}&sig={self._signature(path, expires)}"

    def verify(self, path: str, expires: str, signature: str, now: float | None = None) -> bool:
        try:
            when = int(expires)
        except ValueError:
            return False
        if when < (now if now is not None else time.time()):
            return False
        given = signature.encode()
        matches = [hmac.compare_digest(self._signature(path, when, secret).encode(), given) for secret in self._secrets]
        return any(matches)
