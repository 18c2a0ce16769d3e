"""Capture in its own thread, and the hand-offs between threads.

A live camera hands over only its latest frame (:class:`LatestFrameMailbox`): when the
loop is slower than the camera, older frames are dropped, never queued, so latency stays
bounded. A file is read in order into a small :class:`BoundedHandoff`: nothing is lost,
and the reader waits for the loop; it is paced at the file's own frame rate unless
``pace`` is off. A camera that stops delivering is retried with back-off, then the
loop ends with a :class:`SourceError` saying so.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from media.sources import Frame, FrameSource, SourceError
from realtime.stats import RunStats

_POLL_S = 0.05  # how often blocked threads look at the stop flag


class LatestFrameMailbox:
    """A one-slot mailbox: ``put`` replaces an unread item, ``get`` takes the newest."""

    def __init__(self):
        self._condition = threading.Condition()
        self._item = None
        self._closed = False

    def put(self, item, stop: threading.Event | None = None) -> bool:
        """Leave ``item``; True when it replaced one nobody had taken (a dropped frame).

        Never waits: ``stop`` is accepted only so that both hand-offs take the same call.
        """
        with self._condition:
            replaced = self._item is not None
            self._item = item
            self._condition.notify()
            return replaced

    def close(self) -> None:
        """No more items: ``get`` returns None once the slot is empty."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def get(self, timeout: float | None = None):
        """The newest item; None after :meth:`close`; raises ``queue.Empty`` on timeout."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._item is not None or self._closed, timeout):
                raise queue.Empty
            item, self._item = self._item, None
            return item


class BoundedHandoff:
    """A bounded FIFO hand-off: ``put`` waits for room, so nothing is ever dropped."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"got capacity {capacity}, expected at least 1")
        self.capacity = capacity
        self._condition = threading.Condition()
        self._items: deque = deque()
        self._closed = False

    def wait_for_room(self, stop: threading.Event | None = None) -> bool:
        """Block until ``put`` would not wait; False when ``stop`` was set first."""
        with self._condition:
            return self._wait_for_room_locked(stop)

    def put(self, item, stop: threading.Event | None = None) -> bool:
        """Wait for room (or for ``stop``) and append ``item``; never drops, returns False."""
        with self._condition:
            if self._wait_for_room_locked(stop):
                self._items.append(item)
                self._condition.notify_all()
            return False

    def _wait_for_room_locked(self, stop: threading.Event | None) -> bool:
        while len(self._items) >= self.capacity:
            if stop is not None and stop.is_set():
                return False
            self._condition.wait(_POLL_S)
        return True

    def close(self) -> None:
        """No more items: ``get`` returns None once the queued ones are taken."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def get(self, timeout: float | None = None):
        """The oldest item; None after :meth:`close`; raises ``queue.Empty`` on timeout."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._items or self._closed, timeout):
                raise queue.Empty
            if not self._items:
                return None
            item = self._items.popleft()
            self._condition.notify_all()
            return item


@dataclass(frozen=True)
class CaptureOptions:
    """How frames are read from a source."""

    pace: bool = True  # files: deliver at the file's frame rate (a camera paces itself)
    file_queue: int = 1  # frames decoded ahead for a file: one overlaps decoding with the loop
    retry_attempts: int = 5  # a camera that stops delivering is tried this often ...
    retry_first_delay_s: float = 0.2  # ... waiting this long, doubling each time
    # A camera frame older than this fraction of the camera's period is passed over for
    # the next one, when the loop asks for a frame (see CaptureThread.next_frame). None:
    # always take the newest frame as it is.
    stale_after: float | None = 0.5


class CaptureThread:
    """Reads ``source`` in a daemon thread; the loop takes frames with :meth:`next_frame`.

    ``reopen``, when given, makes a fresh source after a camera dropped out (a USB camera
    that was unplugged stays dead until it is opened again).
    """

    def __init__(self, source: FrameSource, stats: RunStats, options: CaptureOptions = CaptureOptions(),
                 reopen: Callable[[], FrameSource] | None = None):
        self.source = source
        self.options = options
        self._stats = stats
        self._reopen = reopen
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._handoff = LatestFrameMailbox() if source.is_live else BoundedHandoff(options.file_queue)
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to finish and wait for it; the source is left to its owner."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def next_frame(self, stop: threading.Event | None = None) -> Frame | None:
        """The next frame to process; None at the end of the source or once ``stop`` is set.

        Re-raises, in the caller's thread, the error that ended capture (a camera that
        did not come back, an unreadable file).

        From a camera, a frame that already waited more than ``stale_after`` of a camera
        period is swapped for the next one. When the loop is slower than the camera, the
        newest frame is on average half a period old when the loop gets to it; waiting
        for a fresh one instead costs the loop an eighth of a period on average (for
        0.5), and takes three eighths of a period off the average latency and half a
        period off its worst case. If no newer frame comes within a period, the old one is used.
        """
        frame = self._next(stop)
        if frame is None or not self.source.is_live or self.options.stale_after is None:
            return frame
        period = 1.0 / max(self.source.fps, 1e-3)
        if time.perf_counter() - frame.capture_time <= self.options.stale_after * period:
            return frame
        try:
            fresh = self._handoff.get(timeout=period)
        except queue.Empty:
            return frame  # the camera is slower than it says: keep what we have
        if fresh is None:
            return frame
        self._stats.count_dropped()
        return fresh

    def _next(self, stop: threading.Event | None) -> Frame | None:
        while not (stop is not None and stop.is_set()):
            try:
                frame = self._handoff.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if frame is None and self._error is not None:
                raise self._error
            return frame
        return None

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        original = self.source
        try:
            self._read_all()
        except BaseException as error:  # noqa: BLE001 - handed to the consumer's thread
            self._error = error
        finally:
            if self.source is not original:
                self.source.close()  # one this thread reopened; the owner closes the original
            self._handoff.close()

    def _read_all(self) -> None:
        pace = self.options.pace and not self.source.is_live
        start = time.perf_counter()
        delivered = 0
        while not self._stop.is_set():
            if pace:  # wait before reading, so that a frame's capture time is when it is due
                delay = start + delivered / self.source.fps - time.perf_counter()
                if delay > 0 and self._stop.wait(delay):
                    return
            frame = self.source.read()
            if frame is None:
                if not self.source.is_live:
                    return  # a file ended: finish cleanly
                frame = self._recover()
                if frame is None:
                    return  # stopped while waiting
            self._stats.count_in(frame.capture_time)
            if self._handoff.put(frame, self._stop):
                self._stats.count_dropped()
            delivered += 1

    def _recover(self) -> Frame | None:
        """Retry a camera that stopped delivering, with back-off; raise when it stays gone.

        Returns None when the loop is stopped meanwhile.
        """
        delay = self.options.retry_first_delay_s
        waited = 0.0
        for _ in range(self.options.retry_attempts):
            if self._stop.wait(delay):
                return None
            waited += delay
            delay *= 2
            if self._reopen is not None:
                try:
                    self.source.close()
                    self.source = self._reopen()
                except SourceError:
                    continue
            frame = self.source.read()
            if frame is not None:
                return frame
        raise SourceError(
            f"source {self.source.name}: the camera stopped delivering frames and did not come back "
            f"after {self.options.retry_attempts} tries over {waited:.1f} s; check its cable and that "
            "no other program is using it, then start again")
