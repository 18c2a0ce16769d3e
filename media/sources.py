"""Frame sources behind one interface: a camera, a video file, images, or ``sample``.

A source is read in order, one frame at a time; how a live camera hands frames to a
slower consumer (latest frame only) is the live loop's concern, not the source's.
Bad input raises :class:`SourceError` with a one-line message naming the source.
"""

from __future__ import annotations

import glob
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from media.formats import IMAGE_SUFFIXES
from models.errors import UserError
from models.native_logs import quiet_native_stderr

# Names that virtual cameras give their device nodes: never mistaken for a webcam.
_VIRTUAL_CAMERA_NAMES = ("reenact", "dummy video device", "v4l2loopback", "obs virtual")


class SourceError(UserError):
    """A source that cannot be opened or read."""


@dataclass(frozen=True)
class Frame:
    """One captured frame."""

    index: int  # 0-based position in the source
    timestamp_ms: float  # media time: index / fps for files, capture time for cameras
    capture_time: float  # time.perf_counter() when the frame was read
    image: np.ndarray  # (H, W, 3) uint8 BGR


class FrameSource:
    """Base class: iterate frames with :meth:`read` until it returns ``None``."""

    name: str = ""
    fps: float = 30.0
    frame_count: int | None = None
    is_live: bool = False

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


class _OpenCVCaptureSource(FrameSource):
    """Shared reading for sources behind ``cv2.VideoCapture`` (files and cameras).

    The first frame is read while opening, so that a file that is not video or an index
    with no camera fails at once, naming the source, instead of at the first read.
    """

    def _open(self, capture: "cv2.VideoCapture", failure: str) -> None:
        self._capture = capture
        ok, first = capture.read() if capture.isOpened() else (False, None)
        if not ok or first is None:
            capture.release()
            raise SourceError(failure)
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1.0 <= fps <= 240.0 else 30.0
        self._pending = first
        self._index = 0

    def _timestamp_ms(self, now: float) -> float:
        return self._index * 1000.0 / self.fps

    def read(self) -> Frame | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, image = self._capture.read()
            if not ok:
                return None
        now = time.perf_counter()
        frame = Frame(self._index, self._timestamp_ms(now), now, image)
        self._index += 1
        return frame

    def close(self) -> None:
        self._capture.release()


class VideoFileSource(_OpenCVCaptureSource):
    """A video file decoded with OpenCV's FFmpeg backend; timestamps are media time."""

    def __init__(self, path: Path):
        self.name = str(path)
        if not path.is_file():
            raise SourceError(f"source {path}: no such file")
        with quiet_native_stderr():  # FFmpeg and OpenCV print their own lines about a file that is no video
            self._open(cv2.VideoCapture(str(path), cv2.CAP_FFMPEG), f"source {path}: not a readable video")
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None


class ImageFolderSource(FrameSource):
    """A folder or glob of still images, in name order, played at a nominal rate."""

    def __init__(self, spec: str, fps: float = 30.0):
        self.name = spec
        path = Path(spec)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files = sorted(Path(p) for p in glob.glob(spec) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(f"source {spec}: no images found (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
        self._files = files
        self.fps = fps
        self.frame_count = len(files)
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= len(self._files):
            return None
        path = self._files[self._index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"source {self.name}: {path.name} is not a readable image")
        frame = Frame(self._index, self._index * 1000.0 / self.fps, time.perf_counter(), image)
        self._index += 1
        return frame


class SampleSource(FrameSource):
    """The embedded default driver, synthesised from the NASA astronaut portrait."""

    def __init__(self):
        from media.sample_clip import SampleClip

        self.name = "sample"
        self._clip = SampleClip()
        self.fps = self._clip.fps
        self.frame_count = len(self._clip)
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= len(self._clip):
            return None
        frame = Frame(self._index, self._index * 1000.0 / self.fps, time.perf_counter(),
                      self._clip.frame(self._index))
        self._index += 1
        return frame


class CameraSource(_OpenCVCaptureSource):
    """A webcam by index; timestamps are capture times, since a camera has no media clock."""

    is_live = True

    def __init__(self, index: int):
        self.name = f"camera {index}"
        self._start = time.perf_counter()
        with quiet_native_stderr():  # OpenCV probes every backend and logs each failure
            self._open(cv2.VideoCapture(index), f"source {index}: no camera with index {index} could be opened")

    def _timestamp_ms(self, now: float) -> float:
        return (now - self._start) * 1000.0


class LoopingSource(FrameSource):
    """A file source replayed without end (kiosk demos, soak runs): opened again at each end.

    Indices and timestamps go on rising across the replays, as MediaPipe's video mode and
    the One-Euro filter need.
    """

    def __init__(self, spec: str):
        if spec.isdigit():
            raise SourceError(f"source {spec}: a camera cannot loop; --loop replays a file, a folder or 'sample'")
        self._spec = spec
        self._source = _open_once(spec)
        self.name, self.fps = self._source.name, self._source.fps
        self.replays = 0
        self._offset_index = 0  # frames delivered by the earlier replays
        self._next_index = 0

    def read(self) -> Frame | None:
        frame = self._source.read()
        if frame is None:
            if self._next_index == self._offset_index:
                return None  # a replay with no frame at all: nothing to loop
            self._source.close()
            self._source = _open_once(self._spec)
            self._offset_index, self.replays = self._next_index, self.replays + 1
            frame = self._source.read()
            if frame is None:
                return None
        index = self._offset_index + frame.index
        self._next_index = index + 1
        return Frame(index, index * 1000.0 / self.fps, frame.capture_time, frame.image)

    def close(self) -> None:
        self._source.close()


def open_source(spec: str, loop: bool = False) -> FrameSource:
    """Open ``spec``: a camera index ("0"), "sample", a video file, a folder or a glob.

    ``loop`` replays a file source without end (:class:`LoopingSource`).
    """
    return LoopingSource(str(spec).strip()) if loop else _open_once(spec)


def _open_once(spec: str) -> FrameSource:
    spec = str(spec).strip()
    if not spec:
        raise SourceError("source '': empty source name (expected 0, sample, a video, a folder or a glob)")
    if spec.isdigit():
        return CameraSource(int(spec))
    if spec == "sample":
        return SampleSource()
    path = Path(spec)
    if path.is_dir() or any(char in spec for char in "*?["):
        return ImageFolderSource(spec)
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return ImageFolderSource(spec)
    return VideoFileSource(path)


def default_camera(devices: Path = Path("/sys/class/video4linux")) -> str | None:
    """The index of the first real webcam as a source spec, or None where there is none.

    On Linux the device list is read from sysfs without opening anything, skipping virtual
    cameras (a v4l2loopback device must not become our own input). Elsewhere camera 0 is
    assumed.
    """
    if platform.system() != "Linux":
        return "0"
    nodes = [node for node in devices.glob("video*") if node.name[len("video"):].isdigit()]
    for node in sorted(nodes, key=lambda node: int(node.name[len("video"):])):
        try:
            name = (node / "name").read_text().strip().lower()
        except OSError:
            continue
        if not any(virtual in name for virtual in _VIRTUAL_CAMERA_NAMES):
            return node.name[len("video"):]
    return None
