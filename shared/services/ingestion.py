"""Images from where callers point: URLs fetched safely (:mod:`shared.net.url_fetch`), in parallel.

Used by URL uploads, by the Prediction API's URL calls and Quick Test, and by the drop-folder
ingestion to come: one place decides how a URL becomes image bytes, and what a failure says.

A download can take seconds (a slow server trickles its bytes up to the fetch deadline), so URL
work never runs on the threads that every other request shares: the requests that download run on
threads of their own (:meth:`ImageDownloads.run`, awaited without holding a thread), and their
fetches on one bounded pool. Many slow downloads then queue behind each other, never in front of
a ``GET /tags``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from shared.domain.errors import BadRequest, Code, InvalidImage
from shared.domain.limits import DEFAULT_URL_DOWNLOAD_THREADS, MAX_IMAGE_BYTES_PREDICTION
from shared.net.url_fetch import FetchPolicy, fetch_url

__all__ = ["ImageDownloads"]

T = TypeVar("T")


class ImageDownloads:
    def __init__(self, policy: FetchPolicy, *, threads: int = DEFAULT_URL_DOWNLOAD_THREADS) -> None:
        self._policy = policy
        # Threads start on demand and stay few when idle; both pools are bounded by ``threads``.
        self._fetches = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="url-fetch")
        self._requests = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="url-request")

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` (a request that downloads: a URL upload, a prediction from a URL) on the
        downloads' own threads; the caller waits without holding one of the shared threads."""
        return await asyncio.wrap_future(self._requests.submit(work))

    def for_training(self, urls: Sequence[str]) -> list[bytes | InvalidImage]:
        """Each URL's bytes, or why they could not be had (training limits), in order."""

        def download(url: str) -> bytes | InvalidImage:
            try:
                return fetch_url(url, self._policy)
            except InvalidImage as exc:
                return exc

        return list(self._fetches.map(download, urls))

    def for_prediction(self, url: str | None) -> bytes:
        """One image to predict on (the prediction size limit); a failure is a BadRequest."""
        if not url:
            raise BadRequest("Give the image's url.", Code.BAD_REQUEST_IMAGE_URL)
        try:
            return fetch_url(url, replace(self._policy, max_bytes=MAX_IMAGE_BYTES_PREDICTION))
        except InvalidImage as exc:
            raise BadRequest(exc.message, exc.code) from None
