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

The stages themselves are each kind's (:mod:`realtime.reenact_stages`,
:mod:`realtime.swap_stages`, on the shared :mod:`realtime.stages`); this module picks them
by the model's kind (:data:`STAGES`) and runs them.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.formats import RECORDING_SUFFIXES
from media.sources import FrameSource, open_source
from models.default_model import generator_path
from models.errors import UserError
from models.generator_contract import MODES, require_mode
from models.kinds import require_kind
from models.landmarker import FaceLandmarker
from models.options import require
from models.sketch import render_sketch
from models.tracking_landmarker import TrackingLandmarker, live_landmarker
from provenance.content_credentials import Provenance
from provenance.watermark import Payload
from realtime.capture import BoundedHandoff, CaptureOptions, CaptureThread
from realtime.enhancer_runner import EnhancerRunner
from realtime.generator_runner import DEFAULT_THREADS, GeneratorOptions, GeneratorRunner
from realtime.motion_transfer import MotionOptions
from realtime.mouth_inside import MouthInside
from realtime.reenact_stages import ReenactBack, ReenactFront
from realtime.reenact_swap_stages import ReenactSwapBack, ReenactSwapFront
from realtime.retarget import Retargeter
from realtime.sinks import DEFAULT_CAMERA_SIZE, Controls, FileSink, Sink, SinkSet, VirtualCameraSink, WindowSink
from realtime.stages import BackStages, LandmarkStages, Packet, PipelineOptions, single_threaded_blas
from realtime.stats import RunStats
from realtime.swap_stages import SwapBack, SwapFront

# (--mode, the model file's kind) -> its back stages (the front is built below, by what it needs):
# models.kinds says which model kinds each mode runs.
STAGES = {("reenact", "reenact"): ReenactBack, ("swap", "swap"): SwapBack, ("swap", "reenact"): ReenactSwapBack}



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


def build_stages(runner: GeneratorRunner, landmarker: TrackingLandmarker | FaceLandmarker, stats: RunStats,
                 options: PipelineOptions = PipelineOptions(), controls: Controls | None = None,
                 sinks: SinkSet | None = None, retargeter: Retargeter | None = None,
                 enhancer: EnhancerRunner | None = None, mode: str | None = None) -> tuple[LandmarkStages, BackStages]:
    """The live loop's front and back stages for ``runner``'s model: the one place they are assembled.

    The kind of model (its metadata's mode) picks them from :data:`STAGES`. The live loop,
    the driver evaluations and the watermark benchmark all run these, so what they measure
    is what ships. ``retargeter`` (re-enactment) lets a caller calibrate one beforehand
    (the driver evaluation); by default it is the model's, with ``options.retarget``.
    Without ``sinks`` the back stages stop at the marked frame. ``enhancer`` redraws each
    face at twice its size (``Controls.enhance`` switches it off and on). ``mode`` is what
    the loop does (``--mode``; default: what the model is): ``swap`` with a re-enactment
    generator swaps by re-enactment.
    """
    single_threaded_blas()
    metadata = runner.metadata
    require_kind(metadata.mode, "model")
    mode = mode or metadata.mode
    if (mode, metadata.mode) not in STAGES:
        raise UserError(f"--mode {mode} cannot run {require_kind(metadata.mode).what}")
    controls = controls if controls is not None else Controls(options.layout)
    if mode == "swap" and isinstance(landmarker, TrackingLandmarker):
        # A swap pastes into the driver's face oval, which the landmark network reads 8% smaller in
        # the detector's framing than in the tracked one (expressive_34s): less of the target's face
        # covers the driver's, and dlib found the swap 0.355 from s1 instead of 0.330.
        landmarker.redetect = False
    if metadata.mode == "swap":
        front = SwapFront(landmarker, metadata.input_size, metadata.margin, stats, options.smoothing)
    else:
        if retargeter is None:
            retargeter = Retargeter.for_model(metadata, options.retarget)
        front_class = ReenactSwapFront if mode == "swap" else ReenactFront
        widest = retargeter.widest_mouth()
        inside = MouthInside(runner.generate(render_sketch(widest, runner.size)), widest)
        front = front_class(landmarker, retargeter, metadata.input_size, metadata.margin, stats, options.smoothing,
                            controls, options=options, inside=inside)
    return front, STAGES[mode, metadata.mode](runner, stats, controls, options, sinks, enhancer)


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

    def __init__(self, front: LandmarkStages, back: BackStages, controls: Controls):
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
             controls: Controls | None = None, stats: RunStats | None = None, extra_sinks: tuple[Sink, ...] = (),
             report=None) -> dict:
    """Run the live loop as configured; returns (and writes, with ``stats_path``) the stats.

    The model is loaded and checked before any camera opens. ``sinks`` and ``source``
    replace the ones ``config`` names (tests, embedding); ``extra_sinks`` go beside the
    configured ones (the studio's preview); ``report`` gets each output's failure line
    (default: stderr); ``controls`` lets a caller stop the loop from another thread;
    ``stats`` lets a caller (the benchmark) keep every frame's figures.
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
            sinks = [*sinks, *extra_sinks]
            sink_set = SinkSet(sinks, opened.fps, report)
            front, back = build_stages(runner, landmarker, stats, config.pipeline, controls, sink_set, retargeter,
                                       enhancer, config.mode)
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
