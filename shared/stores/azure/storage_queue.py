"""The Azure Storage Queues adapter of :class:`~shared.stores.queue.WorkQueue`.

Message bodies are Base64 of the text's UTF-8, exactly what the SDK's ``TextBase64EncodePolicy`` sends, because
that is what the Functions queue trigger decodes. The adapter encodes and decodes them itself rather than through
the client's message policies: with a decode policy, a body that is not Base64 fails the whole receive before
its pop receipt is seen, so the message could never be deleted and would come back forever. Here such a body
(not Base64, or not UTF-8 under it: no message this product sends) is logged and deleted, and the reader goes
on to the next message.

``get`` receives one message (hidden from other readers for ``visibility_timeout`` seconds), deletes it and
returns its text: each message is delivered once. A reader that stops between the two leaves the message to
reappear after the visibility timeout, which is safe because the queue is not the record of truth (see
:mod:`shared.stores.queue`). A delete refused because the pop receipt is stale means another reader has the
message now: it is skipped, not returned twice. Between empty receives the reader sleeps 50 ms, doubling up to
``max_pause`` (0.5 s), never past the timeout, so an idle reader costs about two requests a second.

Storage Queues order messages only roughly (first in, first out on one partition, and not promised): the
product never depends on order. The queue is created on first use, once per process, never at import.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    QueueClient,
    QueueMessage,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from shared.domain.errors import ServerError
from shared.stores.azure.connections import CreatedOnce

__all__ = ["StorageQueue", "decode_body", "encode_body"]

log = logging.getLogger(__name__)

# A queue message is at most 64 KiB as sent, Base64 included.
_MAX_BODY = 64 * 1024
_FIRST_PAUSE = 0.05
_BASE64_POLICIES = (TextBase64EncodePolicy, TextBase64DecodePolicy, BinaryBase64EncodePolicy, BinaryBase64DecodePolicy)


def encode_body(text: str) -> str:
    """The wire body of ``text``: what ``TextBase64EncodePolicy`` sends and the Functions trigger reads."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_body(body: str) -> str:
    """The text of a wire body; ``ValueError`` when it is not Base64 of UTF-8."""
    try:
        return base64.b64decode(body.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error) as exc:
        raise ValueError("not Base64 of UTF-8 text") from exc


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Storage Queues' exceptions as the product's errors (nothing a caller could have caused)."""
    try:
        yield
    except ClientAuthenticationError as exc:
        log.warning("Storage Queues refused the credentials (%s): %s", what, exc.message)
        raise ServerError("Storage Queues refused this service's credentials; see the server's log.") from exc
    except AzureError as exc:
        log.warning("Storage Queues failed to %s: %s", what, exc.message)
        reason = getattr(exc, "error_code", None) or type(exc).__name__
        raise ServerError(f"Storage Queues failed ({reason}); the server's log has the details.") from exc


class StorageQueue:
    """One storage queue as a :class:`~shared.stores.queue.WorkQueue`.

    ``client`` must carry no message encode or decode policy (the SDK's default): the Base64 is done here.
    """

    def __init__(self, client: QueueClient, *, visibility_timeout: int = 30, max_pause: float = 0.5) -> None:
        # The SDK keeps the policies in private attributes; if it renames them, this check passes silently.
        policies = (getattr(client, "_message_encode_policy", None), getattr(client, "_message_decode_policy", None))
        if any(isinstance(p, _BASE64_POLICIES) for p in policies):
            raise ValueError(
                "StorageQueue encodes message bodies as Base64 itself; give it a QueueClient without "
                "message encode/decode policies, or the bodies would be encoded twice."
            )
        if visibility_timeout < 1:
            raise ValueError("visibility_timeout is in whole seconds, at least 1")
        self._client = client
        self._visibility_timeout = visibility_timeout
        self._max_pause = max_pause
        self._created = CreatedOnce(lambda _: client.create_queue())

    def _ensure(self) -> None:
        with _translated(f"create the queue {self._client.queue_name}"):
            self._created.ensure(self._client.queue_name)

    def put(self, message: str) -> None:
        if not isinstance(message, str):
            raise TypeError(f"queue messages are text, not {type(message).__name__}")
        body = encode_body(message)
        if len(body) > _MAX_BODY:
            raise ValueError(f"a queue message is at most {_MAX_BODY} bytes as Base64; this one is {len(body)}")
        self._ensure()
        with _translated(f"send to the queue {self._client.queue_name}"):
            self._client.send_message(body)

    def get(self, timeout: float) -> str | None:
        self._ensure()
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = _FIRST_PAUSE
        while True:
            with _translated(f"receive from the queue {self._client.queue_name}"):
                message = self._client.receive_message(visibility_timeout=self._visibility_timeout)
            if message is not None:
                text = self._take(message)
                if text is not None:
                    return text
                continue  # dropped or taken by another reader: look again at once
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, self._max_pause)

    def _take(self, message: QueueMessage) -> str | None:
        """Delete a received message; its text, or None when it was undecodable or is another reader's now."""
        try:
            text: str | None = decode_body(message.content) if isinstance(message.content, str) else None
        except ValueError:
            text = None
        if text is None:
            log.warning(
                "Dropping message %s from queue %s (dequeued %s times): its body is not Base64 of UTF-8 text: %.80r",
                message.id,
                self._client.queue_name,
                message.dequeue_count,
                message.content,
            )
        with _translated(f"delete a message from the queue {self._client.queue_name}"):
            try:
                self._client.delete_message(message)
            except ResourceNotFoundError:
                return None  # the pop receipt is stale: the message became visible and another reader took it
        return text
