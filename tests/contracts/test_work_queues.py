"""The WorkQueue contract, written once and run against every adapter (the in-process queue
today; Azure Storage Queues join with one fixture class)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from shared.contracts.jobs import TrainIteration, decode, encode
from shared.stores.azure.connections import queue_service
from shared.stores.azure.storage_queue import StorageQueue
from shared.stores.queue import InProcessQueue, WorkQueue
from tests.azure_stack import AzureStack


class WorkQueueContract:
    def test_an_empty_queue_answers_none_after_the_timeout(self, queue: WorkQueue) -> None:
        started = time.monotonic()
        assert queue.get(timeout=0.2) is None
        assert time.monotonic() - started >= 0.15

    def test_a_message_comes_back_unchanged_once(self, queue: WorkQueue) -> None:
        text = encode(TrainIteration("p-1", "i-1")) + " ünïcode ✓"
        queue.put(text)
        assert queue.get(timeout=5) == text
        assert queue.get(timeout=0.2) is None

    def test_messages_come_back_in_the_order_they_were_put(self, queue: WorkQueue) -> None:
        for n in range(5):
            queue.put(encode(TrainIteration("p", f"i-{n}")))
        got = [queue.get(timeout=5) for _ in range(5)]
        assert [decode(m).iteration_id for m in got if m is not None] == [f"i-{n}" for n in range(5)]

    def test_a_waiting_reader_gets_a_message_put_meanwhile(self, queue: WorkQueue) -> None:
        got: list[str | None] = []
        reader = threading.Thread(target=lambda: got.append(queue.get(timeout=10)))
        reader.start()
        time.sleep(0.1)
        queue.put("late")
        reader.join(timeout=10)
        assert got == ["late"]

    def test_concurrent_writers_and_readers_lose_and_repeat_nothing(self, queue: WorkQueue) -> None:
        sent = [f"m-{w}-{n}" for w in range(4) for n in range(25)]
        received: list[str] = []
        lock = threading.Lock()

        def write(worker: int) -> None:
            for n in range(25):
                queue.put(f"m-{worker}-{n}")

        def read() -> None:
            while True:
                message = queue.get(timeout=0.5)
                if message is None:
                    return
                with lock:
                    received.append(message)

        writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        readers = [threading.Thread(target=read) for _ in range(3)]
        for t in writers + readers:
            t.start()
        for t in writers + readers:
            t.join(timeout=30)
        assert sorted(received) == sorted(sent)

    def test_only_text_is_accepted(self, queue: WorkQueue) -> None:
        with pytest.raises(TypeError):
            queue.put({"type": "train"})  # type: ignore[arg-type]


class TestInProcessQueue(WorkQueueContract):
    @pytest.fixture
    def queue(self) -> InProcessQueue:
        return InProcessQueue()


@pytest.fixture
def queue_service_client(azure_stack: AzureStack) -> Iterator[QueueServiceClient]:
    with queue_service(azure_stack.storage_connection_string) as service:
        yield service


@pytest.fixture
def queue_client(queue_service_client: QueueServiceClient) -> Iterator[QueueClient]:
    """A client of a fresh queue (created by the adapter on first use), deleted after the test."""
    with queue_service_client.get_queue_client(f"t{uuid.uuid4().hex}") as client:
        yield client
        with contextlib.suppress(ResourceNotFoundError):  # never created: the adapter creates it on first use
            queue_service_client.delete_queue(client.queue_name)


class TestStorageQueue(WorkQueueContract):
    @pytest.fixture
    def queue(self, queue_client: QueueClient) -> StorageQueue:
        return StorageQueue(queue_client)

    @pytest.fixture
    def functions_client(self, azure_stack: AzureStack, queue_client: QueueClient) -> Iterator[QueueClient]:
        """A client of the same queue set up as the Functions host reads and writes it (Base64 bodies)."""
        with QueueClient.from_connection_string(
            azure_stack.storage_connection_string,
            queue_client.queue_name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        ) as client:
            yield client

    def test_what_it_sends_the_functions_trigger_reads(
        self, queue: StorageQueue, functions_client: QueueClient
    ) -> None:
        text = encode(TrainIteration("p-1", "i-1")) + " ✓"
        queue.put(text)
        message = functions_client.receive_message()
        assert message is not None
        assert message.content == text

    def test_what_a_base64_sender_sends_it_reads(self, queue: StorageQueue, functions_client: QueueClient) -> None:
        queue.get(timeout=0)  # creates the queue
        functions_client.send_message("ünïcode ✓")
        assert queue.get(timeout=5) == "ünïcode ✓"

    def test_an_undecodable_body_is_logged_and_dropped(
        self, queue: StorageQueue, queue_client: QueueClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        queue.get(timeout=0)
        queue_client.send_message("not base64 at all!")
        queue.put("after it")
        with caplog.at_level(logging.WARNING, logger="shared.stores.azure.storage_queue"):
            assert queue.get(timeout=5) == "after it"
        assert "not Base64 of UTF-8 text" in caplog.text
        assert queue_client.peek_messages() == []

    def test_two_readers_never_get_the_same_message(self, queue_client: QueueClient) -> None:
        sent = [f"m-{n}" for n in range(40)]
        writer = StorageQueue(queue_client)
        for text in sent:
            writer.put(text)
        received: list[list[str]] = [[], []]

        def read(into: list[str]) -> None:
            reader = StorageQueue(queue_client)
            while (message := reader.get(timeout=0.5)) is not None:
                into.append(message)

        readers = [threading.Thread(target=read, args=(into,)) for into in received]
        for t in readers:
            t.start()
        for t in readers:
            t.join(timeout=30)
        assert sorted(received[0] + received[1]) == sorted(sent)
        assert not set(received[0]) & set(received[1])

    def test_an_idle_reader_polls_gently_and_stops_at_the_timeout(
        self, queue: StorageQueue, queue_client: QueueClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        queue.get(timeout=0)
        calls: list[float] = []
        receive = queue_client.receive_message

        def counted(**kwargs: object) -> object:
            calls.append(time.monotonic())
            return receive(**kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(queue_client, "receive_message", counted)
        started = time.monotonic()
        assert queue.get(timeout=1.2) is None
        elapsed = time.monotonic() - started
        assert 1.2 <= elapsed < 1.7
        assert len(calls) <= 7  # after pauses of 50, 100, 200, 400 ms, then 0.5 s (cut to the time left)

    def test_a_client_with_base64_policies_is_refused(self, functions_client: QueueClient) -> None:
        with pytest.raises(ValueError, match="Base64"):
            StorageQueue(functions_client)


def test_queue_service_from_a_connection_string_or_neither() -> None:
    with queue_service("UseDevelopmentStorage=true") as local:
        assert local.url.startswith("http://127.0.0.1:10001/devstoreaccount1")
    with pytest.raises(ValueError):
        queue_service(None, "")
