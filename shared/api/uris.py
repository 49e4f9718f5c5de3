"""Signed, expiring image URLs that a browser ``<img>`` or an app can fetch without a key header.

Custom Vision hands out SAS URLs to blob storage; we hand out URLs to our own artifact route,
signed with an HMAC derived from the training key. Expiry is rounded to the day so that the same
image keeps the same URL for a while (browsers can cache it).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["ARTIFACT_PREFIX", "UriSigner"]

ARTIFACT_PREFIX = "/artifacts/projects"
_DAY = 86_400
_VALID_DAYS = 2


class UriSigner:
    def __init__(self, training_key: str) -> None:
        self._secret = hashlib.sha256(b"cvstudio-uri-signing:" + training_key.encode()).digest()

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]

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
        return hmac.compare_digest(self._signature(path, when), signature)
