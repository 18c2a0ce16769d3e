"""A frame source over images held in memory, for tests that run the real loop."""

import time

from realtime.sources import Frame, FrameSource


class ListSource(FrameSource):
    """Frames from images in memory, like a file (in order, media timestamps)."""

    def __init__(self, images, fps=30.0, name="images"):
        self.images, self.fps, self.name, self.frame_count = list(images), fps, name, len(images)
        self._index = 0

    def read(self):
        if self._index >= len(self.images):
            return None
        frame = Frame(self._index, self._index * 1000.0 / self.fps, time.perf_counter(), self.images[self._index])
        self._index += 1
        return frame
