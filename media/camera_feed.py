"""A file, folder or ``sample`` replayed as a live camera, for benchmarks and soak runs.

How frames are fed matters for latency. Read as a file, a clip is queued in order and a
reader that runs ahead makes every frame wait behind others: that is queueing, not what a
camera user sees. :class:`CameraFeed` is a live source that delivers the clip's next frame
every 1/``camera_fps`` seconds, stamped with the time it was delivered, looping the clip
as a camera never ends. The live loop then treats it exactly as a webcam (latest frame
only, frames it was too busy to take dropped and counted). ``camera_fps`` 0 delivers
frames as fast as they decode.
"""

from __future__ import annotations

import time
from typing import Callable

from media.sources import Frame, FrameSource, SourceError, open_source

DEFAULT_CAMERA_FPS = 60.0  # a fast webcam: fast enough not to cap a 30 fps loop, paced so decoding stays cheap


class CameraFeed(FrameSource):
    """A file, folder or ``sample`` replayed as a live camera (see the module docstring)."""

    is_live = True

    def __init__(self, clip: FrameSource, reopen: Callable[[], FrameSource], fps: float = DEFAULT_CAMERA_FPS):
        self._clip = clip
        self._reopen = reopen
        self.camera_fps = fps
        self.fps = fps or clip.fps
        self.name = f"{clip.name} as a camera at {fps:g} fps" if fps else f"{clip.name} as an unpaced camera"
        self.loops = 0  # how often the clip was restarted
        self._index = 0
        self._start: float | None = None

    def read(self) -> Frame | None:
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        if self.camera_fps:
            self._wait_for_tick(now)
        clip_frame = self._clip.read()
        if clip_frame is None:  # the clip ended: start it again, a camera goes on
            self._clip.close()
            self._clip = self._reopen()
            self.loops += 1
            clip_frame = self._clip.read()
            if clip_frame is None:
                raise SourceError(f"source {self._clip.name}: no frames to replay")
        delivered = time.perf_counter()
        frame = Frame(self._index, (delivered - self._start) * 1000.0, delivered, clip_frame.image)
        self._index += 1
        return frame

    def _wait_for_tick(self, now: float) -> None:
        # A camera's clock does not wait for its reader: a tick missed while this thread
        # was starved of CPU is skipped, not delivered late in a burst.
        period = 1.0 / self.camera_fps
        due = self._start + self._index * period
        if now - due > period:
            self._start = now - self._index * period
            due = now
        if due > now:
            time.sleep(due - now)

    def close(self) -> None:
        self._clip.close()


def open_feed(spec: str, camera_fps: float = DEFAULT_CAMERA_FPS) -> FrameSource:
    """A camera as it is, anything else as a :class:`CameraFeed`; SourceError for a bad ``spec``."""
    source = open_source(spec)
    if source.is_live:
        return source
    return CameraFeed(source, lambda: open_source(spec), camera_fps)
