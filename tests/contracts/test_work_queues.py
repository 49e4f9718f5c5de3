"""The WorkQueue contract, written once and run against every adapter (the in-process queue
today; Azure Storage Queues join with one fixture class)."""

from __future__ import annotations

import threading
import time

import pytest

from shared.contracts.jobs import TrainIteration, decode, encode
from shared.stores.queue import InProcessQueue, WorkQueue


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
