"""The studio: ``reenact live`` with a page a person can click (``reenact studio``).

The studio runs the live loop itself (:func:`realtime.pipeline.run_live`, no second
implementation of any stage) in a thread, with one more output beside the configured ones:
:class:`PreviewSink`, which keeps the latest labelled frame for the page. What can change
while the loop runs goes through :class:`realtime.sinks.Controls` (calibrate, layout, the
pose and expression gains, the enhancer); what the loop is built from (source, model, the
virtual camera, a recording) restarts it with the new settings, which takes about a second.

Settings are remembered between runs in ``$XDG_CONFIG_HOME/reenact/studio.json``
(``~/.config`` by default); the page's reset puts them back to the defaults.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np

from media.formats import RECORDING_SUFFIXES
from media.sources import FrameSource, open_source
from models.default_model import DEFAULT_ENHANCER, generator_path
from models.errors import UserError
from models.files import write_json
from models.generator_contract import GeneratorMetadata, load_generator_file
from realtime.sinks import Controls, Sink, display_available, hud_lines
from realtime.stats import RunStats

SETTINGS_FILE = "studio.json"
# The shipped models a person can pick by name: (label, file name for generator_path, mode).
SHIPPED_MODELS = {
    "default": ("re-enactment (default)", None, "reenact"),
    "fast": ("re-enactment, fast", "fast", "reenact"),
    "swap": ("swap by re-enactment", None, "swap"),
    "autoencoder": ("swap, autoencoder", "autoencoder", "swap"),
}
GAINS = (0.0, 0.5, 1.0)  # what the page offers for the pose and expression gains
CAMERA_SIZES = ((1280, 720), (1920, 1080), (640, 480))  # what the page offers for the virtual camera
PREVIEW_DRIVER = 0.25  # the driver's thumbnail: this share of the preview's width
MESSAGES_KEPT = 5


def settings_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "reenact" / SETTINGS_FILE


@dataclass(frozen=True)
class StudioSettings:
    """What the studio runs; saved as JSON between runs."""

    source: str = "sample"  # a camera index, a video file, or "sample"
    model: str = "default"  # a name in SHIPPED_MODELS or a .tflite path
    pose_gain: float = 1.0
    expression_gain: float = 1.0
    enhance: bool = True
    layout: str = "target"
    virtualcam: bool = False
    camera_size: tuple = (1280, 720)
    window: bool = False  # the plain OpenCV window too (with its keys), where there is a display
    recording: str | None = None  # the file being recorded to, or None

    @classmethod
    def load(cls, path: Path) -> "StudioSettings":
        """The saved settings; the defaults where the file is missing or unreadable (never an error)."""
        try:
            data = json.loads(Path(path).read_text())
            known = {field.name for field in fields(cls)}
            settings = cls(**{key: value for key, value in data.items() if key in known})
            return replace(settings, camera_size=tuple(settings.camera_size), recording=None)
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        write_json(Path(path), asdict(self))


def model_choice(model: str) -> tuple[Path, str, str, GeneratorMetadata]:
    """(file, mode, label, metadata) of a shipped model's name or a .tflite path; UserError for a
    file that is not a model this version runs."""
    if model in SHIPPED_MODELS:
        label, name, mode = SHIPPED_MODELS[model]
        path = generator_path(None if name is None else Path(name), mode)
        return path, mode, label, load_generator_file(path)[1]
    _, metadata = load_generator_file(model)
    return Path(model), "swap" if metadata.mode == "swap" else "reenact", Path(model).name, metadata


def cameras(devices: Path = Path("/sys/class/video4linux")) -> list[tuple[str, str]]:
    """(index, name) of every video device (Linux sysfs; nothing opened)."""
    found = []
    for node in sorted(devices.glob("video*"), key=lambda node: node.name):
        index = node.name[len("video"):]
        if index.isdigit():
            try:
                found.append((index, (node / "name").read_text().strip()))
            except OSError:
                continue
    return found


class WatchedSource(FrameSource):
    """A source that hands each frame's image to ``on_frame`` as it is read (the preview's driver)."""

    def __init__(self, inner: FrameSource, on_frame):
        self._inner, self._on_frame = inner, on_frame
        self.name, self.fps, self.frame_count, self.is_live = inner.name, inner.fps, inner.frame_count, inner.is_live

    def read(self):
        frame = self._inner.read()
        if frame is not None:
            self._on_frame(frame.image)
        return frame

    def close(self) -> None:
        self._inner.close()


class PreviewSink(Sink):
    """Keeps the latest labelled output frame, as the other outputs get it, for the page.

    ``send`` only keeps a reference (the loop's frames are not reused), so the page costs
    the loop nothing; the web server encodes JPEGs at its own pace on its own threads.
    """

    name = "preview"

    def __init__(self):
        self._lock = threading.Condition()
        self._frame: np.ndarray | None = None
        self._driver: np.ndarray | None = None
        self.frames = 0

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        with self._lock:
            self._frame = frame
            self.frames += 1
            self._lock.notify_all()

    def close(self) -> None:
        pass

    def set_driver(self, image: np.ndarray) -> None:
        with self._lock:
            self._driver = image

    def wait(self, after: int, timeout: float = 1.0) -> int:
        """Block until a frame newer than number ``after`` arrives (or ``timeout``); the latest number."""
        with self._lock:
            self._lock.wait_for(lambda: self.frames > after, timeout)
            return self.frames

    def jpeg(self, quality: int = 80) -> bytes | None:
        """The latest frame with the driver small in its bottom-right corner (clear of the label at the
        top), as JPEG; None before the first."""
        with self._lock:
            frame, driver = self._frame, self._driver
        if frame is None:
            return None
        if driver is not None:
            frame = frame.copy()
            width = max(16, int(frame.shape[1] * PREVIEW_DRIVER))
            height = min(frame.shape[0], max(1, round(driver.shape[0] * width / driver.shape[1])))
            corner = frame[frame.shape[0] - height:, frame.shape[1] - width:]
            corner[:] = cv2.resize(driver, (width, height), interpolation=cv2.INTER_AREA)
            cv2.rectangle(corner, (0, 0), (width - 1, height - 1), (255, 255, 255), 1)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return data.tobytes() if ok else None


class Studio:
    """The running loop and its settings: what the page shows and what its controls change."""

    def __init__(self, settings: StudioSettings, save_to: Path | None = None, models_dir: Path | None = None,
                 threads: int = 2):
        self.settings = settings
        self.save_to = save_to
        self.models_dir = models_dir
        self.threads = threads
        self.preview = PreviewSink()
        self.messages: deque = deque(maxlen=MESSAGES_KEPT)
        self.running_model = ""  # label, target credit and mode of the loaded model
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._controls: Controls | None = None
        self.stats = RunStats()
        self.last_run: dict = {}
        self.quit_requested = threading.Event()  # the page's quit (q): the command stops serving

    # ------------------------------------------------------------------ the loop

    def start(self) -> None:
        """Start the loop with the current settings (stopping the one running)."""
        with self._lock:
            self.stop()
            self.stats = RunStats()
            self._controls = controls = Controls(self.settings.layout)
            self._apply_live_settings()
            try:
                config, source = self._config()
            except UserError as error:
                self.say(str(error))
                return
            self._thread = threading.Thread(target=self._run, args=(config, source, controls, self.stats),
                                            name="studio-loop", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._controls.stop.set()
                self._thread.join(timeout=30)
                self._thread = None

    @property
    def controls(self) -> Controls | None:
        """The running loop's controls (a new one each start), None before the first."""
        return self._controls

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _config(self):
        from realtime.pipeline import LiveConfig

        settings = self.settings
        path, mode, label, metadata = model_choice(settings.model)
        self.running_model = f"{label}: {Path(path).name}, mode {mode}; {metadata.credit}"
        outputs = tuple(["window"] if settings.window else []) + \
            tuple(["virtualcam"] if settings.virtualcam else []) + ((settings.recording,) if settings.recording else ())
        config = LiveConfig(source=settings.source, model_path=path, outputs=outputs, num_threads=self.threads,
                            loop=not settings.source.isdigit(), camera_size=tuple(settings.camera_size), mode=mode,
                            enhancer_path=DEFAULT_ENHANCER if DEFAULT_ENHANCER.is_file() else None)
        source = WatchedSource(open_source(settings.source, loop=config.loop), self.preview.set_driver)
        return config, source

    def _run(self, config, source, controls, stats) -> None:
        from realtime.pipeline import run_live

        try:
            self.last_run = run_live(config, source=source, controls=controls, stats=stats,
                                     extra_sinks=(self.preview,), report=self.say)
            if self.last_run.get("stopped_by") not in ("stop", "quit", None) and not controls.stop.is_set():
                self.say(f"the loop stopped: {self.last_run.get('stopped_by')}")
        except UserError as error:
            self.say(str(error))
        except Exception as error:  # noqa: BLE001 - the page must stay up and say what happened
            self.say(f"the loop stopped: {type(error).__name__}: {error}")

    def say(self, message: str) -> None:
        """A line for the page (an error a person can act on, or what changed)."""
        self.messages.append({"time": time.strftime("%H:%M:%S"), "text": str(message).splitlines()[0]})

    def _apply_live_settings(self) -> None:
        controls, settings = self._controls, self.settings
        controls.set_motion("pose", settings.pose_gain)
        controls.set_motion("expression", settings.expression_gain)
        controls.set_enhance(settings.enhance)

    # ---------------------------------------------------------------- the controls

    def change(self, **changes) -> None:
        """New settings: the live ones applied at once, the others by restarting the loop; saved."""
        restart_keys = {"source", "model", "virtualcam", "camera_size", "recording", "window"}
        with self._lock:
            self.settings = replace(self.settings, **changes)
            if self.save_to is not None:
                replace(self.settings, recording=None).save(self.save_to)
            if restart_keys & set(changes) or not self.running:
                self.start()
            else:
                self._apply_live_settings()

    def act(self, action: str, value=None) -> None:
        """One control of the page; UserError (one line) for a request that cannot be done."""
        if action == "calibrate":
            if self._controls is not None:
                self._controls.request_calibration()
            self.say("calibrating: look straight at the camera, face relaxed")
        elif action == "layout":
            if self._controls is not None:
                self.change(layout=self._controls.cycle_layout())
        elif action in ("pose_gain", "expression_gain"):
            gain = float(value)
            if gain not in GAINS:
                raise UserError(f"{action.replace('_', ' ')} {value}: expected one of {', '.join(map(str, GAINS))}")
            self.change(**{action: gain})
        elif action == "enhance":
            self.change(enhance=bool(value))
        elif action == "source":
            self._check_source(str(value))
            self.change(source=str(value))
        elif action == "model":
            model_choice(str(value))  # refuse a file that is not a model before stopping anything
            self.change(model=str(value))
        elif action == "virtualcam":
            self.change(virtualcam=bool(value))
        elif action == "camera_size":
            size = tuple(int(side) for side in str(value).lower().split("x")) if "x" in str(value) else None
            if size not in CAMERA_SIZES:
                raise UserError(f"virtual camera size {value}: expected one of "
                                f"{', '.join(f'{w}x{h}' for w, h in CAMERA_SIZES)}")
            self.change(camera_size=size)
        elif action == "window":
            if value and not display_available():
                raise UserError("no display here for a window; the page's preview shows the same frames")
            self.change(window=bool(value))
        elif action == "record":
            self._record(value)
        elif action == "quit":
            self.say("quitting")
            self.quit_requested.set()
        elif action == "reset":
            self.change(**asdict(StudioSettings()))
            self.say("settings reset to the defaults")
        else:
            raise UserError(f"unknown control {action!r}")

    def _check_source(self, source: str) -> None:
        if not (source == "sample" or source.isdigit() or Path(source).exists()):
            raise UserError(f"source {source}: no such file or camera")

    def _record(self, path) -> None:
        if not path:
            finished = self.settings.recording
            self.change(recording=None)
            if finished:
                self.say(f"recorded {finished}")
            return
        path = Path(str(path))
        if path.suffix.lower() not in RECORDING_SUFFIXES:
            raise UserError(f"recording {path}: expected a file ending in {', '.join(RECORDING_SUFFIXES)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"recording {path}: cannot make its folder ({error.strerror})") from None
        self.change(recording=str(path))
        self.say(f"recording to {path}")

    # ----------------------------------------------------------------- the status

    def models(self) -> list[dict]:
        """The shipped models by name, and every .tflite in the models folder."""
        found = [{"value": name, "label": label} for name, (label, _, _) in SHIPPED_MODELS.items()]
        if self.models_dir is not None and Path(self.models_dir).is_dir():
            files = sorted(Path(self.models_dir).glob("*.tflite"))
            found += [{"value": str(path), "label": path.name} for path in files]
        return found

    def status(self) -> dict:
        summary = self.stats.summary()
        width, height = self.settings.camera_size
        return {
            "running": self.running,
            "settings": asdict(self.settings),
            "model": self.running_model,
            "fps": round(self.stats.recent_fps(), 1),
            "latency_ms": summary["latency_ms"],
            "stages_ms": {stage: round(ms, 1) for stage, ms in self.stats.recent_stage_ms().items()},
            "hud": hud_lines(self.stats),
            "frames_out": summary["frames_out"],
            "frames_dropped": summary["frames_dropped"],
            "outputs": ["preview", *(["window"] if self.settings.window else []),
                        *([f"virtualcam {width}x{height}"] if self.settings.virtualcam else []),
                        *([self.settings.recording] if self.settings.recording else [])],
            "camera_sizes": [f"{w}x{h}" for w, h in CAMERA_SIZES],
            "messages": list(self.messages),
            "cameras": [{"value": index, "label": f"camera {index}: {name}"} for index, name in cameras()],
            "models": self.models(),
            "gains": list(GAINS),
        }
