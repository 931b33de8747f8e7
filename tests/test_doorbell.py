"""The wake-ups between the daemon and its runner (maild.doorbell): ring, wait, clear, close."""

from __future__ import annotations

import os
import resource
import threading
import time

from maild.doorbell import Doorbell, SharedFlag


def test_a_ring_wakes_a_waiter_and_clear_forgets_it():
    bell = Doorbell()
    assert bell.wait(0) is False
    threading.Timer(0.05, bell.set).start()
    started = time.monotonic()
    assert bell.wait(5) is True and time.monotonic() - started < 2
    bell.set()
    bell.set()
    bell.clear()
    assert bell.is_set() is False
    bell.close()
    bell.close()  # twice: nothing
    bell.set()  # a late ring after close: nothing, and no error
    assert bell.wait(0) is False


def test_a_shared_flag_is_up_or_down():
    flag = SharedFlag()
    assert not flag.is_set()
    flag.set()
    assert flag.is_set()
    flag.clear()
    assert not flag.is_set()


def test_a_doorbell_rings_on_a_descriptor_above_1023():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 2048), hard), hard))
    spare = []
    try:
        while len(os.listdir("/proc/self/fd")) < 1100:
            spare.append(os.open(os.devnull, os.O_RDONLY))
        bell = Doorbell()
        assert bell._reader.fileno() > 1023
        assert bell.wait(0) is False
        bell.set()
        assert bell.wait(1) is True and bell.is_set()
        bell.clear()
        assert bell.wait(0.01) is False
        bell.close()
        bell.set()  # after close: nothing, and no error
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
