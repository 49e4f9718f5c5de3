"""The product's HTTP client for a Custom Vision Training API (Azure's or a cvstudio's).

One ``httpx.Client`` per endpoint (pooled connections, safe to share between threads), the ``Training-Key``
header on every API call, paths relative to the training root the official SDK 3.1.1 calls
(``/customvision/v3.4-preview/training``; every cvstudio serves it and so does Azure).

Rate limits: a 429 or 503 is retried, waiting its ``Retry-After`` (seconds, or an HTTP date) or else a growing
backoff, each wait capped and the tries bounded, so a throttled source slows a copy down instead of failing it.
Any other status >= 400 raises :class:`ApiError` with Custom Vision's ``{"code", "message"}`` when the body has
that shape, else the status's reason. A request that never got an answer (refused connection, DNS, timeout)
raises :class:`ApiError` with status 0, so a caller handles one exception type.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

__all__ = ["TRAINING_ROOT", "ApiClient", "ApiError"]

TRAINING_ROOT = "/customvision/v3.4-preview/training"
_RETRIED = frozenset({429, 503})
# Enough for a few refills of a per-second token bucket; a source that stays throttled longer is an outage.
_DEFAULT_TRIES = 8
_DEFAULT_MAX_WAIT_S = 30.0
_BACKOFF_START_S = 0.5


class ApiError(Exception):
    """A Custom Vision endpoint said no (``status`` >= 400), or could not be reached (``status`` 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _error_from(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str):
        return ApiError(response.status_code, body["code"], body["message"])
    # Azure's gateway answers a bad key with {"error": {"code", "message"}}; take that shape too.
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        return ApiError(response.status_code, str(inner.get("code") or response.reason_phrase), inner["message"])
    reason = response.reason_phrase or "HTTP error"
    return ApiError(response.status_code, reason.replace(" ", ""), f"{reason} from {response.request.url.host}")


def _retry_after(response: httpx.Response, fallback: float) -> float:
    value = response.headers.get("Retry-After", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return fallback


class ApiClient:
    """Requests to one endpoint's Training API with one key; see the module docstring for retries and errors."""

    def __init__(
        self,
        endpoint: str,
        key: str,
        *,
        timeout: float = 60.0,
        tries: int = _DEFAULT_TRIES,
        max_wait_s: float = _DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._tries = max(1, tries)
        self._max_wait_s = max_wait_s
        self._sleep = sleep
        self._count_lock = threading.Lock()
        self.throttled = 0  # answers 429/503 that were waited out, and the seconds waited (for summaries)
        self.throttled_s = 0.0
        self._api = httpx.Client(
            base_url=self.endpoint, headers={"Training-Key": key}, timeout=timeout, transport=transport
        )
        # Image URLs (Azure: blob SAS URLs) go out without the key: it is not theirs to see.
        self._plain = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport)

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # The key goes to its own endpoint only; a URL elsewhere is for download().
            if httpx.URL(path).copy_with(path="/", query=None) != httpx.URL(self.endpoint).copy_with(path="/"):
                raise ValueError(f"{path.split('?', 1)[0]} is not on {self.endpoint}: use download() for it")
            return path
        if path.startswith("/"):
            return path
        return f"{TRAINING_ROOT}/{path}"

    def _send(self, client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
        backoff = _BACKOFF_START_S
        for attempt in range(1, self._tries + 1):
            try:
                response = client.request(method, url, **kw)
            except httpx.HTTPError as error:
                # Without the query: an image URL's may hold a signature (a SAS token).
                shown = url.split("?", 1)[0]
                raise ApiError(0, "ConnectionFailed", f"{method} {shown}: {error or type(error).__name__}") from error
            if response.status_code in _RETRIED and attempt < self._tries:
                wait = min(self._max_wait_s, _retry_after(response, backoff))
                backoff = min(self._max_wait_s, backoff * 2)
                response.close()
                with self._count_lock:
                    self.throttled += 1
                    self.throttled_s += wait
                self._sleep(wait)
                continue
            if response.status_code >= 400:
                raise _error_from(response)
            return response
        raise AssertionError("unreachable: the last try returns or raises")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """``path`` relative to the training root (``"projects"``) or absolute (``"/customvision/..."``)."""
        return self._send(
            self._api, method, self._url(path), params=params, json=json, content=content, headers=headers
        )

    def json(self, method: str, path: str, **kw: Any) -> Any:
        response = self.request(method, path, **kw)
        return response.json() if response.content else None

    def download(self, url: str) -> bytes:
        """The bytes at an absolute URL, such as an image's ``originalImageUri`` (no key sent)."""
        if url.startswith("/"):
            url = self.endpoint + url
        return self._send(self._plain, "GET", url).content

    def close(self) -> None:
        self._api.close()
        self._plain.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
