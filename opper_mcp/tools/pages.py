"""A small TTL+LRU cache of fetched web pages, so paging through one costs a single fetch."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    def __init__(self, max_items: int = 32, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[tuple[str, ...], tuple[float, T]] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> T | None:
        hit = self._items.get(key)
        if hit is None or self._clock() - hit[0] > self.ttl_s:
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return hit[1]

    def discard(self, key: tuple[str, ...]) -> None:
        self._items.pop(key, None)

    def put(self, key: tuple[str, ...], value: T) -> None:
        self._items[key] = (self._clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)


PageCache = TTLCache[tuple[str, str, str]]  # (url, title, markdown)
