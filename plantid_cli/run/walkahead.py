"""One walk of the inputs for everything a run needs from it (issue 17).

The progress bar's total, `--max-credits`' count and the run itself used to walk the inputs
separately (and the count hashed every photo a second time). `WalkAhead` walks once, in a
thread, as fast as the filesystem answers, and keeps what it found: the first `keep` units in
memory, the rest spooled to an unnamed temporary file (pickled, length-prefixed), so memory
stays flat however many photos. Any number of readers replay it from the start (`reader()`):
the cost count reads it to the end, then the run reads it again; neither walks nor blocks the
other. `on_total` is called with the number of units once the walk has ended.

A reader's `take(n)` returns what is there (at least one unit, at most `n`) without waiting for
more, which is what lets the run look units up in batches (run/lookup.py) without holding back
a slow input (`tail -f | plantid identify -`): a lone line is handed on at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

KEEP_IN_MEMORY = 4_096
FLUSH_EVERY = 256


class WalkAhead:
    def __init__(
        self,
        units: Iterable[Any],
        on_total: Callable[[int], None] | None = None,
        *,
        keep: int = KEEP_IN_MEMORY,
    ) -> None:
        self._units = units
        self._on_total = on_total
        self._keep = keep
        self._head: list[Any] = []
        self._spool: IO[bytes] | None = None
        self._spooled = 0  # units in the spool file, flushed (readable)
        self._unflushed = 0
        self._count = 0
        self._done = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._walk, name="plantid-walk", daemon=True)
        self._thread.start()

    @property
    def total(self) -> int | None:
        """How many units, once the walk has ended (None before)."""
        with self._changed:
            return self._count if self._done else None

    def _walk(self) -> None:
        try:
            for unit in self._units:
                self._add(unit)
        except BaseException as exc:  # given to the readers, raised in their thread
            self._error = exc
        finally:
            with self._changed:
                self._flush()
                self._done = True
                self._changed.notify_all()
        if self._error is None and self._on_total is not None:
            self._on_total(self._count)

    def _add(self, unit: Any) -> None:
        with self._changed:
            if self._count < self._keep:
                self._head.append(unit)
                self._count += 1
                self._changed.notify_all()
                return
        if self._spool is None:
            # lazy: a walk spills to disk only past its in-memory share (most runs never do)
            import tempfile

            self._spool = tempfile.TemporaryFile(prefix="plantid-walk-")
        # lazy: as the spool above
        import pickle

        data = pickle.dumps(unit, protocol=pickle.HIGHEST_PROTOCOL)
        self._spool.write(len(data).to_bytes(4, "big") + data)
        with self._changed:
            self._count += 1
            self._unflushed += 1
            if self._unflushed >= FLUSH_EVERY:
                self._flush()

    def _flush(self) -> None:
        """Make the spooled units readable (called holding the condition)."""
        if self._spool is not None and self._unflushed:
            self._spool.flush()
            self._spooled += self._unflushed
            self._unflushed = 0
            self._changed.notify_all()

    def wait(self, stop: threading.Event | None = None) -> int | None:
        """The number of units once the walk has ended (None: `stop` was set first)."""
        with self._changed:
            while not self._done:
                if stop is not None and stop.is_set():
                    return None
                self._changed.wait(0.2)
            if self._error is not None:
                raise self._error
            return self._count

    def reader(self) -> Reader:
        return Reader(self)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.reader())

    def close(self) -> None:
        with self._changed:
            if self._spool is not None and self._done:
                self._spool.close()


class Reader:
    """One pass over the walk, from its first unit."""

    def __init__(self, walk: WalkAhead) -> None:
        self._walk = walk
        self._position = 0
        self._offset = 0  # where this reader is in the spool file (its own: os.pread)

    def take(self, n: int, stop: threading.Event | None = None) -> list[Any]:
        """The next units: at least one and at most `n` (empty: the walk has ended and all
        was read, or `stop` was set while waiting)."""
        walk = self._walk
        with walk._changed:
            while True:
                readable = min(len(walk._head), walk._count) + walk._spooled
                if self._position < readable:
                    break
                if walk._done:
                    if walk._error is not None:
                        raise walk._error
                    return []
                if stop is not None and stop.is_set():
                    return []
                walk._changed.wait(0.2)
            head = walk._head
            units = head[self._position : min(len(head), self._position + n)]
            spool, spooled_end = walk._spool, len(head) + walk._spooled
        self._position += len(units)
        if not units and spool is not None:  # in the spool: read at our own offset
            # lazy: only a walk that spilled reads its spool back
            import pickle

            fd = spool.fileno()
            while len(units) < n and self._position < spooled_end:
                size = int.from_bytes(os.pread(fd, 4, self._offset), "big")
                units.append(pickle.loads(os.pread(fd, size, self._offset + 4)))
                self._offset += 4 + size
                self._position += 1
        return units

    def __iter__(self) -> Iterator[Any]:
        while units := self.take(FLUSH_EVERY):
            yield from units


__all__ = ["Reader", "WalkAhead"]
