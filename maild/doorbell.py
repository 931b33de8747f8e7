"""Wake-ups between the daemon and its runner process, without shared locks.

``multiprocessing.Event`` guards its state with a process-shared lock: if one
process is killed (``kill -9``, the OOM killer) while holding it, the other
blocks for ever on its next ``set()`` or ``wait()``. A pipe cannot deadlock
that way: ringing writes a byte without blocking (a full pipe already means
"wake up"), waiting is ``poll()`` with a timeout, and a dead peer is just a
quiet pipe. A daemon that stops closes its ends (``close``), so a process that
starts many daemons (a test session) does not run out of descriptors. ``SharedFlag`` is one byte of shared memory, also lock-free.

Both offer the ``set``/``wait``/``clear``/``is_set`` calls of
``threading.Event``, so the code that uses them does not care which it has.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import select
import threading


class Doorbell:
    """A wake-up signal from any thread or process to the one that waits on it."""

    def __init__(self, context=multiprocessing):
        self._reader, self._writer = context.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        os.set_blocking(self._reader.fileno(), False)
        self._open()

    def _open(self) -> None:
        # Ringing and closing in this process take turns, so that a late ring
        # never writes to a descriptor number already given to something else.
        self._lock = threading.Lock()
        self._closed = False

    def __getstate__(self) -> dict:
        """The pipe's two ends, for the runner process (a lock does not travel)."""
        return {"_reader": self._reader, "_writer": self._writer}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def set(self) -> None:
        """Ring: the waiter wakes (now, or at its next wait)."""
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._writer.fileno(), b"!")
            except (BlockingIOError, BrokenPipeError):
                pass  # full: already rung; broken: nobody is listening any more

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until rung or ``timeout`` seconds pass; True if rung."""
        if self._closed:
            return False
        # poll(), not select(): select() cannot watch a descriptor above 1023,
        # and a process with a thousand connections open has such descriptors.
        waiter = select.poll()
        waiter.register(self._reader.fileno(), select.POLLIN)
        return bool(waiter.poll(None if timeout is None else math.ceil(max(timeout, 0) * 1000)))

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

    def close(self) -> None:
        """Close this process's ends of the pipe; rings after it do nothing. Once the waiters are gone."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._reader.close()
                self._writer.close()


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
