"""Where labelled frames go: a window, a virtual camera, a video file.

Every sink opens on the first frame (when the frame size is known), takes frames with
``send`` and is closed exactly once. :class:`SinkSet` fans frames out: a sink that fails,
at opening or mid-run, is reported once and dropped while the others go on; only when
none is left does the run end with a :class:`SinkError`.

The window is also the loop's keyboard: its keys go to a :class:`Controls` object that
the loop reads (q quit, c calibrate, l cycle layout, s snapshot, p and e the motion gains,
d the face enhancer).
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from media.formats import RECORDING_SUFFIXES
from media.recording import Recording
from models.errors import UserError
from provenance.content_credentials import Provenance, sign_recording, signing_identity
from provenance.label import banner_height
from realtime.postprocess import next_layout
from realtime.stats import RunStats

DEFAULT_CAMERA_SIZE = (1280, 720)  # what video-call apps expect of a webcam
VIRTUALCAM_SETUP = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="reenact"'


class SinkError(UserError):
    """An output that cannot be opened or written."""


MOTION_SCALES = (1.0, 0.5, 0.0)  # the p and e keys step the pose and expression gains through these


class Controls:
    """Requests from the user (the window's keys, signals) to the running loop; thread-safe."""

    def __init__(self, layout: str):
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._layout = layout
        self._calibrate = False
        self._motion_scales = {"pose": 1.0, "expression": 1.0}
        self._enhance = True

    @property
    def enhance(self) -> bool:
        """Whether the face enhancer, where the loop has one, redraws the face (the window's d key)."""
        with self._lock:
            return self._enhance

    def toggle_enhance(self) -> bool:
        with self._lock:
            self._enhance = not self._enhance
            return self._enhance

    def set_enhance(self, on: bool) -> None:
        with self._lock:
            self._enhance = bool(on)

    @property
    def layout(self) -> str:
        with self._lock:
            return self._layout

    def cycle_layout(self) -> str:
        with self._lock:
            self._layout = next_layout(self._layout)
            return self._layout

    def cycle_motion(self, which: str) -> float:
        """The next of MOTION_SCALES for "pose" or "expression" (the window's p and e keys); returns it."""
        with self._lock:
            now = self._motion_scales[which]
            self._motion_scales[which] = MOTION_SCALES[(MOTION_SCALES.index(now) + 1) % len(MOTION_SCALES)]
            return self._motion_scales[which]

    def set_motion(self, which: str, scale: float) -> None:
        """Set what the configured "pose" or "expression" gain is multiplied by (the studio's controls)."""
        with self._lock:
            self._motion_scales[which] = float(scale)

    def motion_scales(self) -> tuple[float, float]:
        """What the configured pose and expression gains are multiplied by now."""
        with self._lock:
            return self._motion_scales["pose"], self._motion_scales["expression"]

    def request_calibration(self) -> None:
        with self._lock:
            self._calibrate = True

    def take_calibration_request(self) -> bool:
        """True once per request (the loop starts a recalibration)."""
        with self._lock:
            requested, self._calibrate = self._calibrate, False
            return requested


class Sink:
    """Base class: ``open`` once with the frame size, ``send`` BGR frames, ``close`` once."""

    name = "sink"

    def open(self, width: int, height: int, fps: float) -> None:
        raise NotImplementedError

    def send(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the output; called once, also after a failure."""


def display_available() -> bool:
    """Whether a window can be shown: a display on Linux, always elsewhere."""
    if platform.system() != "Linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def hud_lines(stats: RunStats, fits: Callable[[str], bool] = lambda text: True) -> list[str]:
    """The window's heads-up display: frame rate, then each stage's recent mean time, on as many
    lines as it takes for each to ``fits`` (the frame's width: a dozen stages ran past its edge)."""
    lines = [f"{stats.recent_fps():.1f} fps  dropped {stats.frames_dropped}"]
    line = "ms:"
    for stage, ms in stats.recent_stage_ms().items():
        longer = f"{line} {stage} {ms:.1f}"
        if fits(longer) or line == "ms:":
            line = longer
        else:
            lines.append(line)
            line = f"    {stage} {ms:.1f}"
    return lines + [line]


def outlined_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a black outline, legible on any picture, drawn into ``image``.

    The outline is the text's own strokes grown by two pixels: OpenCV's fonts advance each
    letter further the thicker they are drawn, so a thick black copy under a thin white one
    drifts off to the right, letter by letter (the HUD used to read as two offset copies).
    """
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    left, top = max(0, origin[0] - 3), max(0, origin[1] - height - 3)
    right, bottom = min(image.shape[1], origin[0] + width + 3), min(image.shape[0], origin[1] + baseline + 3)
    if right <= left or bottom <= top:
        return
    region = image[top:bottom, left:right]  # only the text's box: the HUD redraws every frame
    mask = np.zeros(region.shape[:2], np.uint8)
    cv2.putText(mask, text, (origin[0] - left, origin[1] - top), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    region[cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0] = 0
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    region[:] = (region * (1.0 - alpha) + 255.0 * alpha).astype(np.uint8)


class WindowSink(Sink):
    """An OpenCV window with a HUD; its keys drive :class:`Controls`.

    ``show`` and ``wait_key`` default to OpenCV's ``imshow`` and ``waitKey``; a test passes
    its own ``show`` to capture exactly what would be drawn.
    """

    name = "window"

    def __init__(self, controls: Controls, stats: RunStats | None = None, title: str = "reenact live",
                 snapshot_dir: Path = Path("out/snapshots"),
                 show: Callable[[str, np.ndarray], None] | None = None,
                 wait_key: Callable[[int], int] | None = None):
        self.controls = controls
        self.stats = stats
        self.title = title
        self.snapshot_dir = Path(snapshot_dir)
        self._highgui = show is None
        self._show = show or cv2.imshow
        self._wait_key = wait_key or (cv2.waitKey if self._highgui else (lambda delay_ms: -1))
        self._shown = False
        self.snapshots: list[Path] = []

    def open(self, width: int, height: int, fps: float) -> None:
        if self._highgui and not display_available():
            raise SinkError("window: no display ($DISPLAY is not set); use --output FILE.mp4 "
                            "or --output virtualcam instead")

    def send(self, frame: np.ndarray) -> None:
        if self._highgui and self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.controls.stop.set()  # the user closed the window
            return
        self._show(self.title, self._with_hud(frame))
        self._shown = True
        self._handle_key(self._wait_key(1) & 0xFF, frame)

    def _with_hud(self, frame: np.ndarray) -> np.ndarray:
        if self.stats is None:
            return frame
        shown = frame.copy()
        line_height = max(14, frame.shape[0] // 28)
        top = banner_height(frame.shape[0]) + line_height
        scale = line_height / 30

        def fits(text: str) -> bool:
            return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= frame.shape[1] - 20

        for number, line in enumerate(hud_lines(self.stats, fits)):
            outlined_text(shown, line, (8, top + number * line_height), scale)
        return shown

    def _handle_key(self, key: int, frame: np.ndarray) -> None:
        if key in (ord("q"), 27):  # q or Esc
            self.controls.stop.set()
        elif key == ord("c"):
            self.controls.request_calibration()
        elif key == ord("l"):
            self.controls.cycle_layout()
        elif key == ord("s"):
            self.snapshot(frame)
        elif key == ord("d"):
            print(f"face enhancer {'on' if self.controls.toggle_enhance() else 'off'}", file=sys.stderr)
        elif key in (ord("p"), ord("e")):
            which = "pose" if key == ord("p") else "expression"
            print(f"{which} gain x{self.controls.cycle_motion(which):g}", file=sys.stderr)

    def snapshot(self, frame: np.ndarray) -> Path:
        """Save the labelled frame (without the HUD) as a PNG."""
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.snapshot_dir / f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.snapshots):03d}.png"
        if not cv2.imwrite(str(path), frame):
            raise SinkError(f"window: could not write snapshot {path}")
        self.snapshots.append(path)
        print(f"snapshot saved: {path}", file=sys.stderr)
        return path

    def close(self) -> None:
        if self._highgui and self._shown:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # lets HighGUI actually take the window down


def fit_into(frame: np.ndarray, canvas: np.ndarray) -> None:
    """Draw ``frame`` into ``canvas`` (in place) as large as it fits, centred, its aspect kept."""
    height, width = canvas.shape[:2]
    scale = min(width / frame.shape[1], height / frame.shape[0])
    fitted = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
    left, top = (width - fitted[0]) // 2, (height - fitted[1]) // 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[top:top + fitted[1], left:left + fitted[0]] = cv2.resize(frame, fitted, interpolation=interpolation)


class VirtualCameraSink(Sink):
    """A virtual webcam through ``pyvirtualcam.Camera`` (v4l2loopback on Linux).

    Video-call apps expect a 16:9 camera, so frames are sent at ``size`` (1280x720 by
    default), the output frame fitted in the middle on black: the label and the mark
    are in the frame before it is fitted. ``backend`` names a pyvirtualcam backend
    (None: any available), ``device`` a device.
    """

    name = "virtual camera"

    def __init__(self, backend: str | None = None, device: str | None = None,
                 size: tuple[int, int] = DEFAULT_CAMERA_SIZE):
        self.backend = backend
        self.device = device
        self.size = size
        self._camera = None
        self._canvas: np.ndarray | None = None
        self._fitted: tuple | None = None  # the shape of the frames the canvas was drawn for

    def open(self, width: int, height: int, fps: float) -> None:
        import pyvirtualcam

        try:
            self._camera = pyvirtualcam.Camera(self.size[0], self.size[1], fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                               device=self.device, backend=self.backend)
        except (RuntimeError, KeyError, ValueError) as error:
            # pyvirtualcam's first sentence names the cause; its advice follows below, in full.
            detail = " ".join(str(error).split()).split(". ")[0] or type(error).__name__
            raise SinkError(f"virtual camera: none available ({detail}). {_virtualcam_hint()}") from None

    def send(self, frame: np.ndarray) -> None:
        if frame.shape[:2] == (self.size[1], self.size[0]):
            self._camera.send(frame)
            return
        if self._canvas is None or self._fitted != frame.shape:  # the window's l key changes the layout
            self._canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
            self._fitted = frame.shape
        fit_into(frame, self._canvas)
        self._camera.send(self._canvas)

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


def _virtualcam_hint() -> str:
    if platform.system() == "Linux":
        return (f"To set one up, install v4l2loopback (e.g. apt install v4l2loopback-dkms) and run: "
                f"{VIRTUALCAM_SETUP}")
    return "To set one up, install OBS Studio and start its virtual camera once."


class FileSink(Sink):
    """A video file at the source's frame rate: H.264 in fragmented MP4 (:mod:`media.recording`).

    A crash loses at most the last fragment (a quarter second; ``.avi`` files are not
    fragmented and get no such protection); a clean close finalises the
    file and, with ``provenance`` (the generator model), then signs it once with C2PA
    content credentials that declare it AI-generated (:mod:`provenance.content_credentials`);
    nothing is added per frame.
    """

    name = "file"

    def __init__(self, path: Path, provenance: Provenance | None = None):
        self.path = Path(path)
        self.name = f"file {self.path}"
        self.provenance = provenance
        self.credentials: dict | None = None  # the signed manifest's summary, after close
        self._recording: Recording | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(f"file {self.path}: cannot write a video there ({error.strerror})") from None
        if self.provenance is not None:  # refuse now what could not be signed at the end
            if self.path.suffix.lower() not in RECORDING_SUFFIXES:
                raise SinkError(f"file {self.path}: recordings carry content credentials, which need a "
                                f"name ending in {', '.join(sorted(RECORDING_SUFFIXES))}")
            try:
                signing_identity()  # creates the local one if missing; checks a configured one
            except UserError as error:
                raise SinkError(f"file {self.path}: {error}") from None
        try:
            self._recording = Recording(self.path, width, height, fps)
        except UserError as error:
            raise SinkError(f"file {error}") from None

    def send(self, frame: np.ndarray) -> None:
        self._recording.write(frame)

    def close(self) -> None:
        if self._recording is not None:
            recording, self._recording = self._recording, None
            recording.close()
            if self.provenance is not None:
                try:
                    self.credentials = sign_recording(self.path, self.provenance.model_name,
                                                      self.provenance.model_id)
                except UserError as error:
                    raise SinkError(str(error)) from None


def _report(message: str) -> None:
    print(f"reenact live: {message}", file=sys.stderr)


class SinkSet:
    """Sends each frame to every working sink; a failing sink is reported once and dropped."""

    def __init__(self, sinks: list[Sink], fps: float, report: Callable[[str], None] | None = None):
        if not sinks:
            raise ValueError("got no sinks, expected at least one")
        self.fps = fps
        self.report = report or _report  # default: one line on stderr
        self._pending = list(sinks)  # not opened yet: opened with the first frame
        self._open: list[Sink] = []
        self.failed: dict[str, str] = {}  # sink name -> why it failed
        self.worked: list[str] = []  # after close: the sinks that took every frame and closed cleanly

    @property
    def active(self) -> list[Sink]:
        return list(self._open)

    def send(self, frame: np.ndarray) -> None:
        """Deliver ``frame`` to every sink; raises SinkError once no sink is left."""
        pending, self._pending = self._pending, []
        for position, sink in enumerate(pending):
            try:
                sink.open(frame.shape[1], frame.shape[0], self.fps)
                self._open.append(sink)
            except Exception as error:  # noqa: BLE001 - any failure: report it, carry on
                self._fail(sink, error, others_left=len(self._open) + len(pending) - position - 1)
        for sink in list(self._open):
            try:
                sink.send(frame)
            except Exception as error:  # noqa: BLE001 - any failure: report it, carry on
                self._open.remove(sink)
                self._fail(sink, error, others_left=len(self._open))
        if not self._open:
            raise SinkError("no output is left: " + "; ".join(self.failed.values()))

    @staticmethod
    def _message(sink: Sink, error: Exception) -> str:
        """A UserError's own line, or the sink's name and what went wrong."""
        return str(error) if isinstance(error, UserError) else f"{sink.name}: {type(error).__name__}: {error}"

    def _fail(self, sink: Sink, error: Exception, others_left: int) -> None:
        message = self._message(sink, error)
        self.failed[sink.name] = message
        if others_left:  # otherwise the SinkError that ends the run carries the message
            self.report(f"{message}; the other outputs go on")
        try:
            sink.close()
        except Exception:  # noqa: BLE001 - it has failed already; closing is best effort
            pass

    def close(self) -> None:
        """Close every sink that was opened (files are finalised here)."""
        for sink in self._open:
            try:
                sink.close()
                self.worked.append(sink.name)
            except Exception as error:  # noqa: BLE001 - closing the others matters more
                self.failed[sink.name] = self._message(sink, error)
                self.report(f"{sink.name}: could not close cleanly: {error}")
        self._open = []
