"""A bounded, thread-safe cache for things that never change once written (snapshots, model
manifests, evaluations, loaded models): least recently used dropped first, one load per key."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["LruCache"]

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[K, threading.Lock] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or ``load()``'s, kept; concurrent callers of one key load it once."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            gate = self._loading.setdefault(key, threading.Lock())
        try:
            with gate:
                with self._lock:
                    if key in self._items:
                        return self._items[key]
                value = load()
                self.put(key, value)
                return value
        finally:
            with self._lock:
                self._loading.pop(key, None)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)
