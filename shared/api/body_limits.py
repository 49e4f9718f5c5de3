"""Request bodies and headers have size limits: a larger body is answered 413 before it is read, or
as soon as it is seen to be larger; larger headers are answered 431.

FastAPI reads a JSON body whole before any handler runs, so without a limit a client decides how
much memory a request takes. This pure ASGI middleware (it never buffers; the body still streams
to the app) counts every request body against a limit:

* ``Content-Length`` over the limit: 413 at once, the app never called, nothing read;
* a chunked body (no length) is counted as it streams; past the limit the app's next read fails
  and whatever the app would have answered is replaced by the 413.

The image uploads and predictions that stream their body (``POST .../images``, ``.../image``,
``.../image/nostore``) are not counted here: :mod:`shared.api.multipart` bounds them per image
and per batch as it parses them, and never holds an oversized image. ``CreateImagesFromFiles``
(``.../images/files``: base64 images in JSON) has its own, larger, limit, and so has a dataset zip
(``POST .../dataset``, the cvstudio extension): the same, a batch of images and their annotations.

Headers are bounded first by the server (``cvstudio serve``: h11 refuses a request whose line and
headers it cannot complete within the limit, with a plain 400), but h11 parses whatever arrives in
one read (up to 256 KB); so here the headers' total is checked exactly, and answered 431 in Custom
Vision's error shape. (Azure Functions' host refuses headers over 32 KB with 431 before the app.)
"""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.errors import error_response
from shared.domain.errors import Code

__all__ = ["BodyLimits"]

_STREAMED_IMAGE_PATHS = ("/images", "/image", "/image/nostore")
_FILE_BATCH_PATH = "/images/files"
_DATASET_PATH = "/dataset"


class _TooLarge(Exception):
    """The body outgrew the limit; raised into the app's read, answered 413 here."""


class BodyLimits:
    def __init__(self, app: ASGIApp, *, json_limit: int, file_batch_limit: int, header_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.file_batch_limit = file_batch_limit
        self.header_limit = header_limit

    def limit_for(self, method: str, path: str) -> int | None:
        """The body limit (bytes) of a request; None for the streamed image bodies."""
        path = path.rstrip("/").lower()
        if method == "POST" and path.endswith(_STREAMED_IMAGE_PATHS):
            return None
        return self.file_batch_limit if path.endswith((_FILE_BATCH_PATH, _DATASET_PATH)) else self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))  # ": ", CRLF
        if headers > self.header_limit:
            await _refuse(
                scope, receive, send, 431, f"The request's headers are larger than {self.header_limit} bytes."
            )
            return
        limit = self.limit_for(scope["method"], scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, 413, _too_large(limit))
            return

        seen = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # the app answered its failed read (often a 400): the answer is the 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):  # the app let our refusal of its read through
            await self.app(scope, counted_receive, guarded_send)
        if exceeded and not started:
            await _refuse(scope, receive, send, 413, _too_large(limit))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we ever see it
    return None


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit} bytes, the limit for this request."


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    # The body may be unread: the connection closes rather than read what was refused.
    response = error_response(status, Code.BAD_REQUEST.value, message, {"Connection": "close"})
    await response(scope, receive, send)
