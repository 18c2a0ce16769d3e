"""Recordings that survive a crash and play everywhere: H.264 (yuv420p) in fragmented MP4, through PyAV.

A plain MP4 keeps its index (the ``moov`` box) at the end, so a process killed while
recording leaves a file no player opens. A fragmented MP4 writes a small header first,
then a self-contained fragment (``moof`` + ``mdat``) every :data:`FRAGMENT_SECONDS`, each
handed to the operating system as it is written: a crash, ``kill -9`` or an out-of-memory
end loses at most the fragment in progress (a power cut also what the system had not yet
put on disk; nothing here calls fsync). ``.avi`` recordings are not fragmented. A clean
close adds the ``mfra`` index at the end, which is also how :func:`recording_finished`
tells a finished recording from a cut one.

H.264 in yuv420p is what browsers and players decode (OpenCV's ``mp4v`` is MPEG-4 Part 2,
which many do not). ``zerolatency`` keeps the encoder from holding frames back (no
look-ahead, no B-frames), so a frame is in the file as soon as its fragment closes.
PyAV's wheels carry FFmpeg with libx264.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from models.errors import UserError

FRAGMENT_SECONDS = 0.25  # what a crash can lose
KEYFRAME_SECONDS = 1.0  # where a player can start, and seek to
CRF = 20  # x264's constant quality: visually lossless for faces at this size
PRESET = "veryfast"  # ~3 ms a 512x512 frame on one core of the 2-core machine

# Containers by suffix: FFmpeg's muxer name, and whether it can write fragments.
_CONTAINERS = {".mp4": ("mp4", True), ".m4v": ("mp4", True), ".mov": ("mov", True), ".avi": ("avi", False)}
SUFFIXES = tuple(sorted(_CONTAINERS))  # what a recording's file name may end in


class RecordingError(UserError):
    """A recording that cannot be opened or written."""


class Recording:
    """Writes BGR frames of one size to ``path`` as H.264; ``close`` finalises the file.

    Odd frame sizes are padded by one edge pixel (yuv420p needs even sides).
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float):
        import av

        self.path = Path(path)
        container, fragments = _CONTAINERS.get(self.path.suffix.lower(), (None, False))
        if container is None:
            raise RecordingError(f"{self.path}: recordings are {', '.join(SUFFIXES)} files")
        self.size = (int(width), int(height))
        rate = Fraction(max(float(fps), 1.0)).limit_denominator(1001)  # 29.97 or 12.5 fps, not rounded
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
                   "frag_duration": str(int(FRAGMENT_SECONDS * 1e6)), "flush_packets": "1"} if fragments else {}
        try:
            self._container = av.open(str(self.path), "w", format=container, options=options)
        except (OSError, av.FFmpegError) as error:
            raise RecordingError(f"{self.path}: cannot write a video there ({error})") from None
        self._stream = self._container.add_stream(
            "libx264", rate=rate,
            options={"preset": PRESET, "tune": "zerolatency", "crf": str(CRF),
                     "g": str(max(1, round(KEYFRAME_SECONDS * float(rate))))})
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._to_frame = av.VideoFrame.from_ndarray  # PyAV is imported only where recordings are written
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 frame of the recording's size."""
        if frame.shape[:2] != (self.size[1], self.size[0]):
            raise RecordingError(f"{self.path}: got a {frame.shape[1]}x{frame.shape[0]} frame, "
                                 f"expected {self.size[0]}x{self.size[1]}")
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        for packet in self._stream.encode(self._to_frame(np.ascontiguousarray(frame), format="bgr24")):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and write the index; safe to call twice."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def _top_level_boxes(path: Path) -> list[tuple[str, bool]]:
    """The MP4 file's top-level boxes: (type, complete) in file order."""
    boxes = []
    with open(path, "rb") as file:
        end = file.seek(0, 2)
        position = 0
        while position + 8 <= end:
            file.seek(position)
            size, kind = struct.unpack(">I4s", file.read(8))
            if size == 1:
                size = struct.unpack(">Q", file.read(8))[0]
            elif size == 0:
                size = end - position
            if size < 8:
                boxes.append((kind.decode("latin-1"), False))
                break
            boxes.append((kind.decode("latin-1"), position + size <= end))
            position += size
    return boxes


def recording_finished(path: str | Path) -> bool | None:
    """False for a fragmented MP4 that was cut short (no closing index, or a box cut off).

    True for one that was closed, None for a file that is not a fragmented MP4 (nothing to
    tell from its structure).
    """
    path = Path(path)
    if path.suffix.lower() not in _CONTAINERS or not path.is_file():
        return None
    try:
        boxes = _top_level_boxes(path)
    except (OSError, struct.error):
        return None
    kinds = [kind for kind, _ in boxes]
    # Fragmented: fragments, or a header with no media yet (killed before the first fragment).
    if "moof" not in kinds and not ("moov" in kinds and "mdat" not in kinds):
        return None
    return "mfra" in kinds and all(complete for _, complete in boxes)
