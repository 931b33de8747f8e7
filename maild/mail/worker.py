"""Reading messages in a child process with a time and a memory budget, so no mail can stall the runner.

Some mail takes mail-parser and the email package a long time: a Subject of
100,000 encoded words takes ~10 s, and the parse grows faster than the mail
(MAIL_RULES 5; Zammad gives up after ``PROZESS_TIME_MAX`` for the same
reason). Parsing in the runner itself, such a mail would hold up every mail
behind it, and one that eats memory could take the runner down.

So the runner hands each message to one warm worker process (started once,
kept for the next message, not a fork per mail) and waits at most
``seconds`` for the answer. Past that the worker is killed and the next
message starts a new one; the message is ``OverBudget``. The worker limits
its own address space (``RLIMIT_AS``) to what it had at start plus
``megabytes``: a parse that needs more gets ``MemoryError``, which the worker
reports before it exits.

The worker is a plain ``python -m maild.mail.worker`` child with pipes, not
a ``multiprocessing`` process: the runner is a daemonic process, which
multiprocessing does not let have children. Each request and answer is one
pickle, after eight bytes of length; the answer is ``message.Message``, a
dataclass of strings, bytes and lists. The worker ends when its pipe
closes, so it never outlives the runner.
"""

from __future__ import annotations

import atexit
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time

from maild.mail import message

_LENGTH = struct.Struct(">Q")
# Seconds a new worker may take to import its code and say it is ready.
START_SECONDS = 30
# The directory holding the maild package, for the worker's import path.
_CODE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(message.__file__))))


class OverBudget(Exception):
    """Reading the message took longer, or more memory, than its budget."""


class WorkerDied(Exception):
    """The worker ended without an answer (not a budget it reported)."""


def _write(stream, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """``size`` bytes from ``fd``; None at end of file; TimeoutError past ``deadline``."""
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _address_space() -> int:
    """This process's address space now, in bytes (Linux's /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def serve(megabytes: int) -> None:
    """The worker's loop: read a (raw, mail domain) request, answer with the Message, until the pipe closes."""
    # The answers' pipe is fd 1; anything else printing there would break
    # the framing, so fd 1 becomes stderr's and the pipe is kept apart.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer.fileno()
    limit = _address_space() + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _write(answers, pickle.dumps(("ready", None)))
    while True:
        try:
            head = _read_exactly(requests, _LENGTH.size, None)
            if head is None:
                return
            raw, mail_domain = pickle.loads(_read_exactly(requests, _LENGTH.unpack(head)[0], None))
            answer = pickle.dumps(("ok", message.read(raw, mail_domain)), protocol=pickle.HIGHEST_PROTOCOL)
            del raw
            _write(answers, answer)
        except MemoryError:
            # Exit after saying so: what ran out of memory may have left
            # anything half-made, and a fresh worker costs one start.
            _write(answers, pickle.dumps(("memory", None)))
            return


class Worker:
    """One warm worker process, started when first needed and again after it was killed."""

    def __init__(self, megabytes: int):
        self.megabytes = megabytes
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        """The running worker, or a new one once it said it is ready (its start is not the message's time)."""
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        env = dict(os.environ)
        # The worker runs this very code, wherever it was imported from.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_CODE, env.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, "-m", "maild.mail.worker", str(self.megabytes)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, env=env)
        try:
            answer = _answer(self.proc, time.monotonic() + START_SECONDS)
        except TimeoutError:
            answer = None
        if answer is None or answer[0] != "ready":
            self._kill()
            raise WorkerDied("the parse worker did not start")
        return self.proc

    def stop(self) -> None:
        """End the worker (closing its pipe ends it; killed if it is busy)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:  # it is gone already, with what was left in the pipe
            pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
        self.stop()

    def read(self, raw: bytes, mail_domain: str, seconds: float) -> message.Message:
        """The Message of ``raw``, read by the worker within ``seconds``; OverBudget or WorkerDied if not."""
        with self.lock:
            proc = self._start()
            try:
                _write(proc.stdin, pickle.dumps((raw, mail_domain), protocol=pickle.HIGHEST_PROTOCOL))
                answer = _answer(proc, time.monotonic() + seconds)
            except TimeoutError:
                self._kill()
                raise OverBudget(f"reading the message took longer than {seconds:g} s "
                                 "([mail] parse_seconds)") from None
            except BrokenPipeError:
                answer = None
            if answer is None:
                self._kill()
                raise WorkerDied(f"the parse worker ended without an answer (exit status {proc.returncode})")
            kind, found = answer
            if kind == "memory":
                self.stop()
                raise OverBudget(f"reading the message needed more than {self.megabytes} MB "
                                 "([mail] parse_megabytes)")
            return found


def _answer(proc: subprocess.Popen, deadline: float):
    """The worker's next answer, unpickled; None when it ended; TimeoutError past ``deadline``."""
    head = _read_exactly(proc.stdout.fileno(), _LENGTH.size, deadline)
    body = None if head is None else _read_exactly(proc.stdout.fileno(), _LENGTH.unpack(head)[0], deadline)
    return None if body is None else pickle.loads(body)


# One worker a process. A row retried with a larger memory budget gets a
# worker of its own, which the next message's budget replaces: an idle
# second worker would hold its memory for nothing.
_worker: Worker | None = None
_worker_lock = threading.Lock()


def _for(megabytes: int) -> Worker:
    """This process's worker for ``megabytes`` (not started yet when it is new)."""
    global _worker
    with _worker_lock:
        if _worker is None or _worker.megabytes != megabytes:
            if _worker is not None:
                _worker.stop()
            _worker = Worker(megabytes)
        return _worker


def read(raw: bytes, mail_domain: str, *, seconds: float, megabytes: int) -> message.Message:
    """Read ``raw`` as ``message.read`` does, in this process's worker, started for ``megabytes`` when needed."""
    return _for(megabytes).read(raw, mail_domain, seconds)


def warm(megabytes: int) -> None:
    """Start the worker now, so the first message after a start does not wait for its imports."""
    worker = _for(megabytes)
    with worker.lock:
        worker._start()


def stop_all() -> None:
    """End this process's worker (the runner does so when it stops)."""
    global _worker
    with _worker_lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.stop()


atexit.register(stop_all)

if __name__ == "__main__":
    serve(int(sys.argv[1]))
