"""The live loop: capture, then per frame landmarks ... sinks, as a two-stage pipeline.

Three threads. Capture reads the source (:mod:`realtime.capture`). The front thread runs
landmarks, One-Euro smoothing, retargeting and the sketch; the main thread runs the
generator, post-processing, the label and the sinks (the window must live on the main
thread). A one-slot hand-off joins the two. By default the front takes the next frame
once the generator is done with the last one, so MediaPipe looks at frame n+1 while
frame n is post-processed, labelled, marked and sent, but never while LiteRT generates:
the two heavy stages then do not slow each other down on two cores. With
``PipelineOptions.overlap`` the front runs as soon as the hand-off has room, so
MediaPipe looks at frame n+1 while LiteRT generates frame n (both release the GIL):
more frames per second, but each stage runs slower and a frame's latency is higher
(both measured in docs/speed.md). The hand-off blocks rather than drops. A camera's
frames are dropped only at capture, and the front thread takes one only when the back
can take it next, so a frame waits for at most one back-stage period.

Each stage times itself into :class:`RunStats` and into the frame's :class:`Packet`,
the small per-frame record that carries the image and what each stage added.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from media.formats import RECORDING_SUFFIXES
from media.sources import Frame, FrameSource, open_source
from models.alignment import Alignment
from models.default_model import generator_path
from models.generator_contract import MODES, require_mode
from models.landmarker import FaceLandmarker, FaceLandmarks
from models.options import require
from models.sketch import render_sketch
from models.tracking_landmarker import DEFAULT_LANDMARKER, TrackingLandmarker, live_landmarker, require_landmarker
from provenance.content_credentials import Provenance
from provenance.label import burn_label, write_note
from provenance.watermark import Payload, Watermarker
from realtime import kernels
from realtime.capture import BoundedHandoff, CaptureOptions, CaptureThread
from realtime.enhancer_runner import EnhancerRunner
from realtime.generator_runner import DEFAULT_THREADS, GeneratorOptions, GeneratorRunner
from realtime.motion_transfer import FaceWarp, MotionOptions, MotionTransfer
from realtime.one_euro import OneEuroFilter, OneEuroOptions
from realtime.postprocess import DEFAULT_OUTPUT_SIZE, LAYOUTS, compose, frame_shape
from realtime.retarget import HeadMotion, Retargeter, RetargetOptions
from realtime.sinks import DEFAULT_CAMERA_SIZE, Controls, FileSink, Sink, SinkSet, VirtualCameraSink, WindowSink
from realtime.stats import RunStats

NO_FACE_DIM = 0.4  # brightness of the last face while no face is found
NO_FACE_NOTE = "no face"


@dataclass(frozen=True)
class PipelineOptions:
    """Per-frame choices of the loop."""

    layout: str = "target"
    output_size: int = DEFAULT_OUTPUT_SIZE
    retarget: RetargetOptions = RetargetOptions()
    follow_head: bool = True  # put the driver's head roll, shift and scale back on the face
    # The driver's head turn and the expression beyond the target's range, by warping the
    # drawn face (realtime.motion_transfer); gains of 0 turn them off.
    motion: MotionOptions = MotionOptions()
    # Swap mode: open or close the drawn face's mouth to the driver's opening (realtime.swap_stages).
    follow_mouth: bool = True
    smoothing: OneEuroOptions = OneEuroOptions()
    # Overlap the landmarks of frame n+1 with the generator of frame n. On two cores the
    # two then slow each other: more frames per second from a fast camera, but a higher
    # latency. Off (the default), the landmarks of frame n+1 wait for the generator of
    # frame n and overlap only its post-processing and sinks (figures: docs/speed.md).
    overlap: bool = False
    # The landmark stage: the face landmarker's networks on LiteRT with tracking (the
    # default, models.tracking_landmarker), or MediaPipe's Tasks API (docs/speed.md).
    landmarker: str = DEFAULT_LANDMARKER

    def __post_init__(self):
        require(self.layout in LAYOUTS, f"layout {self.layout!r}", f"one of {', '.join(LAYOUTS)}")
        require_landmarker(self.landmarker)
        require(64 <= self.output_size <= 2048, f"--size {self.output_size}", "64 to 2048 pixels")


@dataclass(frozen=True)
class LiveConfig:
    """Everything ``reenact live`` was asked to do (built by the CLI)."""

    source: str
    model_path: Path
    outputs: tuple[str, ...]  # "window", "virtualcam", or video file paths
    stats_path: Path | None = None
    num_threads: int = DEFAULT_THREADS
    capture: CaptureOptions = CaptureOptions()
    pipeline: PipelineOptions = PipelineOptions()
    snapshot_dir: Path = Path("out/snapshots")
    loop: bool = False  # replay a file source without end
    camera_size: tuple[int, int] = DEFAULT_CAMERA_SIZE  # what the virtual camera sends (width, height)
    mode: str = "reenact"  # or "swap": the model must be of the same kind
    # The face enhancer (realtime.enhancer_runner) that redraws the face at twice the size
    # with its detail; None draws the generator's face enlarged.
    enhancer_path: Path | None = None

    def __post_init__(self):
        require(self.mode in MODES, f"--mode {self.mode}", f"one of {', '.join(MODES)}")
        # A swap is the driver's own frame with the target's face in it: nothing to lay out.
        require(self.mode != "swap" or self.pipeline.layout == "target", f"--layout {self.pipeline.layout} "
                "with --mode swap", "no --layout (a swap keeps the driver's own frame)")
        require(self.mode == "swap" or self.pipeline.follow_mouth, "--no-follow-mouth with --mode reenact",
                "it with --mode swap only (re-enactment draws the mouth from the driver's landmarks)")
        require(self.mode != "swap" or self.pipeline.motion == MotionOptions(), "--pose-gain or --expression-gain "
                "with --mode swap", "them with --mode reenact only (a swap keeps the driver's own head)")
        require(self.num_threads >= 1, f"--threads {self.num_threads}", "1 or more")
        width, height = self.camera_size
        require(16 <= width <= 7680 and 16 <= height <= 4320 and width % 2 == 0 and height % 2 == 0,
                f"--camera-size {width}x{height}", "even sides from 16x16 to 7680x4320, e.g. 1280x720")
        for output in self.outputs:
            require(output in ("window", "virtualcam") or Path(output).suffix.lower() in RECORDING_SUFFIXES,
                    f"--output {output}",
                    f"window, virtualcam or a video file ending in {', '.join(RECORDING_SUFFIXES)}")


@dataclass
class Packet:
    """One frame on its way through the loop; each stage fills in its part."""

    frame: Frame
    face: FaceLandmarks | None = None
    points: np.ndarray | None = None  # smoothed landmarks, frame pixels
    driver_aligned: np.ndarray | None = None  # the driver's landmarks in the model's crop
    target_aligned: np.ndarray | None = None  # retargeted landmarks drawn into the sketch
    sketch: np.ndarray | None = None
    head_motion: np.ndarray | None = None  # (2, 3) warp of the face: the driver's in-plane motion
    face_warp: FaceWarp | None = None  # the face's move: turn, expression, head_motion (and a mouth's inside)
    generated: np.ndarray | None = None  # the generator's face, (S, S, 3) uint8
    # The face as it is shown: warped (re-enactment) or colour-matched (swap), then enhanced
    # (twice the size) where the loop has an enhancer; swap also keeps its paste mask at that size.
    drawn: np.ndarray | None = None
    drawn_mask: np.ndarray | None = None
    # Face swap only (realtime.swap_stages): the frame-to-crop transform, the driver's
    # aligned face (the model's input) and its 0/1 face mask in the crop.
    alignment: Alignment | None = None
    aligned_face: np.ndarray | None = None
    face_mask: np.ndarray | None = None
    output: np.ndarray | None = None  # the labelled frame the sinks get
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def has_face(self) -> bool:
        return self.face is not None


class StageTimer:
    """Times a stage into the run's stats and the packet."""

    def __init__(self, stats: RunStats):
        self.stats = stats

    @contextlib.contextmanager
    def __call__(self, stage: str, packet: Packet):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(stage, packet, (time.perf_counter() - start) * 1000.0)

    def record(self, stage: str, packet: Packet, milliseconds: float) -> None:
        """Count ``milliseconds`` as ``stage`` (a stage timed in parts)."""
        packet.stage_ms[stage] = milliseconds
        self.stats.add_stage(stage, milliseconds)


class LandmarkStages:
    """Landmarks and One-Euro smoothing: what every mode's front stages begin with."""

    def __init__(self, landmarker: TrackingLandmarker | FaceLandmarker, stats: RunStats,
                 smoothing: OneEuroOptions = OneEuroOptions()):
        self.landmarker = landmarker
        self._smoother = OneEuroFilter(smoothing)
        self._time = StageTimer(stats)

    def warm_up(self) -> None:
        """Load the smoothing kernel before the first frame, so frame 0 does not pay for it."""
        warm = OneEuroFilter(self._smoother.options)
        for time_s in (0.0, 0.033):
            warm(np.zeros((478, 3), np.float32), time_s)

    def track(self, packet: Packet) -> bool:
        """Fill in the packet's face and smoothed points; False when no face was found."""
        frame = packet.frame
        with self._time("landmarks", packet):
            packet.face = self.landmarker.detect(frame.image, round(frame.timestamp_ms))
        if packet.face is None:
            self._smoother.reset()  # the next face may be far from the last one
            return False
        with self._time("smooth", packet):
            packet.points = self._smoother(packet.face.points, frame.timestamp_ms / 1000.0)
        return True


class FrontStages(LandmarkStages):
    """Landmarks, smoothing, retargeting and sketch: everything before the generator."""

    def __init__(self, landmarker: TrackingLandmarker | FaceLandmarker, retargeter: Retargeter, size: int,
                 margin: float, stats: RunStats, smoothing: OneEuroOptions = OneEuroOptions(),
                 controls: Controls | None = None, options: PipelineOptions = PipelineOptions()):
        super().__init__(landmarker, stats, smoothing)
        self.retargeter = retargeter
        self.size, self.margin = size, margin
        self.controls = controls
        self.options = options
        self.head_motion = HeadMotion(size, retargeter.options.calibrate_frames)
        self.motion = MotionTransfer(size, retargeter.target_neutral, options.motion,
                                     retargeter.options.calibrate_frames)

    def __call__(self, packet: Packet) -> Packet:
        if not self.track(packet):
            return packet
        with self._time("retarget", packet):
            if self.controls is not None:
                if self.controls.take_calibration_request():
                    self.retargeter.recalibrate()
                    self.head_motion.recalibrate()
                    self.motion.recalibrate()
                self.motion.scales = self.controls.motion_scales()
            alignment = Alignment.from_landmarks(packet.points, self.size, self.margin)
            packet.driver_aligned = alignment.apply(packet.points)
            packet.target_aligned, asked = self.retargeter.retarget(self.motion.frontalise(packet.driver_aligned))
            packet.head_motion = self.head_motion(alignment.matrix) if self.options.follow_head else None
        with self._time("sketch", packet):
            packet.sketch = render_sketch(packet.target_aligned, self.size)
        if self.retargeter.driver_neutral is not None:  # calibrated, if only provisionally
            with self._time("motion", packet):
                packet.face_warp = self.motion.warp(packet.target_aligned, asked, packet.head_motion)
        return packet


class BackStages:
    """Generator, post-processing, label, invisible watermark and sinks: everything after the sketch.

    The watermark carries the runner's model id and is applied to every frame the sinks
    get; nothing turns it off.
    """

    def __init__(self, runner: GeneratorRunner, stats: RunStats, controls: Controls,
                 options: PipelineOptions = PipelineOptions(), sinks: SinkSet | None = None,
                 enhancer: EnhancerRunner | None = None):
        self.runner = runner
        self.enhancer = enhancer
        self.stats = stats
        self.controls = controls
        self.options = options
        self.sinks = sinks
        self.canvas_shape = frame_shape(options.layout, options.output_size)
        self._last_face = np.zeros((runner.size, runner.size, 3), np.uint8)
        self._time = StageTimer(stats)
        self.watermarker = Watermarker(Payload.for_model(runner.model_id))

    def warm_up(self) -> None:
        """Run the generator and the kernels once, so frame 0 does not pay for loading them."""
        self.runner.warm_up()
        if self.enhancer is not None:
            self.enhancer.warm_up()
        kernels.dim(self._last_face, NO_FACE_DIM, np.empty_like(self._last_face))
        self.watermarker.embed(np.zeros((*self.canvas_shape, 3), np.uint8))  # builds the frame-size pattern

    def generate(self, packet: Packet) -> Packet:
        """The generator stage alone (the offline evaluation stops here)."""
        if packet.sketch is not None:
            with self._time("generator", packet):
                packet.generated = self.runner.generate(packet.sketch)
        return packet

    def render(self, packet: Packet) -> np.ndarray:
        """Generator, post-processing and label: the frame before its invisible mark."""
        self.generate(packet)
        self.draw(packet)
        return self._finish(packet)

    def draw(self, packet: Packet) -> Packet:
        """The generated face as it is shown: moved by the driver's head and expression, then enhanced.

        It runs before the front stages are let go for the next frame: the enhancer is a
        LiteRT invoke on both cores like the generator, and beside the landmarks it took
        12.7 ms a frame instead of 3.9.
        """
        if packet.generated is None:
            return packet
        face = packet.generated
        with self._time("warp", packet):
            if packet.face_warp is not None:
                face = packet.face_warp.apply(face)
            elif packet.head_motion is not None:
                face = cv2.warpAffine(face, packet.head_motion, face.shape[1::-1], flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE)
        packet.drawn = self.enhance(face, packet)
        return packet

    def enhance(self, face: np.ndarray, packet: Packet) -> np.ndarray:
        """The face redrawn at twice its size by the enhancer, when there is one and it is on."""
        if self.enhancer is None or not self.controls.enhance or face.shape[0] != self.enhancer.size:
            return face
        with self._time("enhance", packet):
            return self.enhancer.enhance(face)

    def _finish(self, packet: Packet) -> np.ndarray:
        """Layout and label of a drawn (or faceless) packet."""
        with self._time("post", packet):
            if packet.drawn is None:  # no face: the last one, dimmed, with a note
                face = kernels.dim(self._last_face, NO_FACE_DIM, np.empty_like(self._last_face))
            else:
                face = self._last_face = packet.drawn
            output = compose(self.controls.layout, face, packet.frame.image, self.options.output_size,
                             self.canvas_shape)
            if packet.drawn is None:
                write_note(output, NO_FACE_NOTE)
        with self._time("label", packet):
            return burn_label(output)

    def __call__(self, packet: Packet, generated: Callable[[], None] | None = None) -> Packet:
        """Every back stage; ``generated`` is called as soon as the face is drawn (generator, warp, enhancer)."""
        self.generate(packet)
        self.draw(packet)
        if generated is not None:
            generated()
        output = self._finish(packet)
        with self._time("watermark", packet):
            packet.output = self.watermarker.embed(output)
        if self.sinks is not None:
            with self._time("sinks", packet):
                self.sinks.send(packet.output)
            self.stats.count_out(packet.frame.capture_time, packet.has_face)
        return packet


def single_threaded_blas() -> None:
    """Keep numpy's OpenBLAS to one thread in this process, for good.

    The motion stage's small linear algebra (the thin-plate spline) woke OpenBLAS's second
    thread, which then spins on a core for milliseconds after each call, beside the LiteRT
    invokes: with it, the landmarks took 4.5 ms a frame, the generator 5.1 and the enhancer
    8.2; with one thread 2.3, 3.0 and 4.1 (docs/speed.md). The matrices are too small for a
    second thread to help.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def build_stages(runner: GeneratorRunner, landmarker: TrackingLandmarker | FaceLandmarker, stats: RunStats,
                 options: PipelineOptions = PipelineOptions(), controls: Controls | None = None,
                 sinks: SinkSet | None = None, retargeter: Retargeter | None = None,
                 enhancer: EnhancerRunner | None = None) -> tuple[FrontStages, BackStages]:
    """The live loop's front and back stages for ``runner``'s model: the one place they are assembled.

    The live loop, the driver evaluation and the watermark benchmark all run these, so what
    they measure is what ships. ``retargeter`` lets a caller calibrate one beforehand (the
    driver evaluation); by default it is the model's, with ``options.retarget``. Without
    ``sinks`` the back stages stop at the marked frame. ``enhancer`` redraws each face at
    twice its size (``Controls.enhance`` switches it off and on).
    """
    single_threaded_blas()
    metadata = runner.metadata
    controls = controls if controls is not None else Controls(options.layout)
    if metadata.mode == "swap":
        from realtime.swap_stages import SwapBack, SwapFront  # they build on this module's stages

        front = SwapFront(landmarker, metadata.input_size, metadata.margin, stats, options.smoothing)
        return front, SwapBack(runner, stats, controls, options, sinks, enhancer)
    if retargeter is None:
        retargeter = Retargeter.for_model(metadata, options.retarget)
    front = FrontStages(landmarker, retargeter, metadata.input_size, metadata.margin, stats, options.smoothing,
                        controls, options)
    return front, BackStages(runner, stats, controls, options, sinks, enhancer)


def build_sinks(config: LiveConfig, controls: Controls, stats: RunStats, provenance: Provenance) -> list[Sink]:
    """One sink per ``--output``: "window", "virtualcam" or a video file path (signed, C2PA)."""
    sinks: list[Sink] = []
    for output in config.outputs:
        if output == "window":
            sinks.append(WindowSink(controls, stats, snapshot_dir=config.snapshot_dir))
        elif output == "virtualcam":
            sinks.append(VirtualCameraSink(size=config.camera_size))
        else:
            sinks.append(FileSink(Path(output), provenance))
    return sinks


@contextlib.contextmanager
def _stop_on_sigterm(controls: Controls):
    """SIGTERM ends the run like ``q`` does (files finalised); only the main thread may set it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: controls.stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LivePipeline:
    """Runs front and back stages over a capture thread until the source ends or a stop."""

    def __init__(self, front: FrontStages, back: BackStages, controls: Controls):
        self.front = front
        self.back = back
        self.controls = controls
        self._handoff = BoundedHandoff(1)
        # Without overlap the front takes a frame only once the generator is done with the last.
        self._overlap = back.options.overlap
        self._back_done = threading.BoundedSemaphore(1)
        self._front_error: BaseException | None = None
        self.stopped_by = "end of source"

    def run(self, capture: CaptureThread) -> None:
        """Process every frame ``capture`` delivers; returns when done or stopped."""
        front_thread = threading.Thread(target=self._front_loop, args=(capture,), name="front", daemon=True)
        capture.start()
        front_thread.start()
        try:
            with _stop_on_sigterm(self.controls):
                self._back_loop()
        except KeyboardInterrupt:
            self.stopped_by = "interrupt"
        except BaseException:
            self.stopped_by = "error"
            raise
        finally:
            self.controls.stop.set()
            capture.stop()
            front_thread.join(timeout=10.0)
        if self._front_error is not None:
            self.stopped_by = "error"
            raise self._front_error

    def _front_loop(self, capture: CaptureThread) -> None:
        stop = self.controls.stop
        live = capture.source.is_live
        try:
            while True:
                # A camera frame is taken only once the generator is free for it next: it is
                # then as fresh as it can be when it reaches the generator, and no landmarks
                # are spent on frames that would be dropped.
                if not self._overlap and not self._wait_for_back(stop):
                    return
                if live and not self._handoff.wait_for_room(stop):
                    return
                frame = capture.next_frame(stop)
                if frame is None:
                    return
                self._handoff.put(self.front(Packet(frame)), stop)
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
            self._front_error = error
        finally:
            self._handoff.close()

    def _back_loop(self) -> None:
        while not self.controls.stop.is_set():
            try:
                packet = self._handoff.get(timeout=0.05)
            except queue.Empty:
                continue  # look at the stop flag again
            if packet is None:
                return
            released = False

            def release_front() -> None:
                nonlocal released
                if not self._overlap and not released:
                    released = True
                    self._back_done.release()

            try:
                self.back(packet, generated=release_front)
            finally:
                release_front()
        self.stopped_by = "stop requested"

    def _wait_for_back(self, stop: threading.Event) -> bool:
        """Block until the generator is done with the back's packet; False when ``stop`` came first."""
        while not self._back_done.acquire(timeout=0.05):
            if stop.is_set():
                return False
        return True


def run_live(config: LiveConfig, sinks: list[Sink] | None = None, source: FrameSource | None = None,
             controls: Controls | None = None, stats: RunStats | None = None) -> dict:
    """Run the live loop as configured; returns (and writes, with ``stats_path``) the stats.

    The model is loaded and checked before any camera opens. ``sinks`` and ``source``
    replace the ones ``config`` names (tests, embedding); ``controls`` lets a caller stop
    the loop from another thread; ``stats`` lets a caller (the benchmark) keep every
    frame's figures.
    """
    runner = GeneratorRunner.from_file(GeneratorOptions(config.model_path, config.num_threads))
    require_mode(runner.metadata, config.mode, config.model_path)
    enhancer = EnhancerRunner.from_file(config.enhancer_path, config.num_threads) if config.enhancer_path else None
    provenance = Provenance(Path(config.model_path).name, runner.model_id)  # what recordings are signed with
    stats = stats if stats is not None else RunStats()
    controls = controls or Controls(config.pipeline.layout)
    retargeter = Retargeter.for_model(runner.metadata, config.pipeline.retarget)
    opened = source if source is not None else open_source(config.source, loop=config.loop)
    reopen = (lambda: open_source(config.source)) if source is None and opened.is_live else None
    pipeline = sink_set = None
    try:
        with opened, live_landmarker(config.pipeline.landmarker) as landmarker:
            if sinks is None:
                sinks = build_sinks(config, controls, stats, provenance)
            sink_set = SinkSet(sinks, opened.fps)
            front, back = build_stages(runner, landmarker, stats, config.pipeline, controls, sink_set, retargeter,
                                       enhancer)
            front.warm_up()
            back.warm_up()
            pipeline = LivePipeline(front, back, controls)
            try:
                pipeline.run(CaptureThread(opened, stats, config.capture, reopen))
            finally:
                sink_set.close()
    finally:
        extra = {"source": opened.name, "model": str(config.model_path),
                 "stopped_by": pipeline.stopped_by if pipeline is not None else "error",
                 "calibrated": retargeter.calibrated,
                 # The outputs that got every frame and closed cleanly, and why the others failed.
                 "outputs": list(sink_set.worked) if sink_set is not None else [],
                 "outputs_failed": dict(sink_set.failed) if sink_set is not None else {}}
        summary = {**stats.summary(), **extra}
        if config.stats_path is not None:
            stats.write_json(config.stats_path, extra)
    return summary


def render_frames(count: int, output_size: int, layout: str = "target", model: Path | None = None,
                  source: str = "sample") -> tuple[list[np.ndarray], Payload]:
    """``count`` labelled output frames of the live loop's stages, before the mark, and the model's payload.

    What the watermark is added to, frame for frame: its tests and benchmark start here.
    ``model`` None is the shipped generator.
    """
    runner = GeneratorRunner.from_file(GeneratorOptions(generator_path(model)))
    options = PipelineOptions(layout=layout, output_size=output_size)
    frames: list[np.ndarray] = []
    with open_source(source) as frames_in, live_landmarker(options.landmarker) as landmarker:
        front, back = build_stages(runner, landmarker, RunStats(), options)
        for frame in frames_in:
            if len(frames) >= count:
                break
            frames.append(back.render(front(Packet(frame))))
    return frames, back.watermarker.payload
