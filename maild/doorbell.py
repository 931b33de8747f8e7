"""Wake-ups between the daemon and its runner process, without shared locks.

``multiprocessing.Event`` guards its state with a process-shared lock: if one
process is killed (``kill -9``, the OOM killer) while holding it, the other
blocks for ever on its next ``set()`` or ``wait()``. A pipe cannot deadlock
that way: ringing writes a byte without blocking (a full pipe already means
"wake up"), waiting is ``select()`` with a timeout, and a dead peer is just a
quiet pipe. ``SharedFlag`` is one byte of shared memory, also lock-free.

Both offer the ``set``/``wait``/``clear``/``is_set`` calls of
``threading.Event``, so the code that uses them does not care which it has.
"""

from __future__ import annotations

import multiprocessing
import os
import select


class Doorbell:
    """A wake-up signal from any thread or process to the one that waits on it."""

    def __init__(self, context=multiprocessing):
        self._reader, self._writer = context.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        os.set_blocking(self._reader.fileno(), False)

    def set(self) -> None:
        """Ring: the waiter wakes (now, or at its next wait)."""
        try:
            os.write(self._writer.fileno(), b"!")
        except (BlockingIOError, BrokenPipeError):
            pass  # full: already rung; broken: nobody is listening any more

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until rung or ``timeout`` seconds pass; True if rung."""
        ready, _, _ = select.select([self._reader.fileno()], [], [], timeout)
        return bool(ready)

    def clear(self) -> None:
        """Forget the rings so far."""
        try:
            while os.read(self._reader.fileno(), 4096):
                pass
        except BlockingIOError:
            pass

    def is_set(self) -> bool:
        """Whether it was rung since the last clear."""
        return self.wait(0)


class SharedFlag:
    """A boolean in shared memory: set by one process, read by another, no lock."""

    def __init__(self, context=multiprocessing):
        self._value = context.RawValue("b", 0)

    def set(self) -> None:
        """Raise the flag."""
        self._value.value = 1

    def clear(self) -> None:
        """Lower the flag."""
        self._value.value = 0

    def is_set(self) -> bool:
        """Whether the flag is up."""
        return self._value.value == 1
