"""Per-process retained output: a byte-capped buffer of seq-numbered chunks, and the read query on it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_RETAINED_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    seq: int
    stream: str
    data: bytes


class Retention:
    """Newest output chunks whose sizes sum to at most ``cap`` bytes; older chunks are evicted."""

    __slots__ = ("_chunks", "cap", "evicted_bytes", "evicted_chunks", "total")

    def __init__(self, cap: int = DEFAULT_RETAINED_BYTES) -> None:
        self.cap = cap
        self._chunks: deque[Chunk] = deque()
        self.total = 0
        self.evicted_chunks = 0
        self.evicted_bytes = 0

    def append(self, chunk: Chunk) -> None:
        self._chunks.append(chunk)
        self.total += len(chunk.data)
        while self.total > self.cap and self._chunks:
            old = self._chunks.popleft()
            self.total -= len(old.data)
            self.evicted_chunks += 1
            self.evicted_bytes += len(old.data)

    def __len__(self) -> int:
        return len(self._chunks)

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._chunks)

    def oldest_seq(self) -> int | None:
        return self._chunks[0].seq if self._chunks else None

    def select(self, after_seq: int, max_bytes: int | None) -> list[Chunk]:
        """Chunks with ``seq > after_seq``, oldest first, like codex's ``exec_read``.

        Stops before a chunk that would push the total past ``max_bytes`` unless it is the first one, and
        stops once ``max_bytes`` is reached.
        """
        out: list[Chunk] = []
        total = 0
        chunks = self._chunks
        if not chunks or chunks[-1].seq <= after_seq:
            return out
        start = 0
        if chunks[0].seq <= after_seq:
            # binary search over the deque (seqs ascend; holes allowed)
            lo, hi = 0, len(chunks)
            while lo < hi:
                mid = (lo + hi) // 2
                if chunks[mid].seq <= after_seq:
                    lo = mid + 1
                else:
                    hi = mid
            start = lo
        for index in range(start, len(chunks)):
            chunk = chunks[index]
            size = len(chunk.data)
            if max_bytes is not None and out and total + size > max_bytes:
                return out
            total += size
            out.append(chunk)
            if max_bytes is not None and total >= max_bytes:
                return out
        return out
