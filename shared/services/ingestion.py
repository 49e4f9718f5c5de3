"""Images from where callers point: URLs fetched safely (:mod:`shared.net.url_fetch`), in parallel.

Used by URL uploads, by the Prediction API's URL calls and Quick Test, and by the drop-folder
ingestion to come: one place decides how a URL becomes image bytes, and what a failure says.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from shared.domain.errors import BadRequest, Code, InvalidImage
from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
from shared.net.url_fetch import FetchPolicy, fetch_url

__all__ = ["ImageDownloads"]

_PARALLEL_FETCHES = 8


class ImageDownloads:
    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy

    def for_training(self, urls: Sequence[str]) -> list[bytes | InvalidImage]:
        """Each URL's bytes, or why they could not be had (training limits), in order."""

        def download(url: str) -> bytes | InvalidImage:
            try:
                return fetch_url(url, self._policy)
            except InvalidImage as exc:
                return exc

        if not urls:
            return []
        with ThreadPoolExecutor(max_workers=min(_PARALLEL_FETCHES, len(urls))) as pool:
            return list(pool.map(download, urls))

    def for_prediction(self, url: str | None) -> bytes:
        """One image to predict on (the prediction size limit); a failure is a BadRequest."""
        if not url:
            raise BadRequest("Give the image's url.", Code.BAD_REQUEST_IMAGE_URL)
        try:
            return fetch_url(url, replace(self._policy, max_bytes=MAX_IMAGE_BYTES_PREDICTION))
        except InvalidImage as exc:
            raise BadRequest(exc.message, exc.code) from None
