"""The live loop's stages, whatever the kind of model: the per-frame packet, the loop's options,
the landmark front every kind starts with, and the back stages' shared tail.

Each kind of model has its stages in a module of its own, built on these
(:mod:`realtime.reenact_stages`, :mod:`realtime.swap_stages`); :mod:`realtime.pipeline`
picks them by the model's kind and runs them. Each stage times itself into
:class:`RunStats` and into the frame's :class:`Packet`, the small per-frame record that
carries the image and what each stage added.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from media.sources import Frame
from models.alignment import Alignment
from models.landmarker import FaceLandmarker, FaceLandmarks
from models.options import require
from models.tracking_landmarker import DEFAULT_LANDMARKER, TrackingLandmarker, require_landmarker
from provenance.label import burn_label
from provenance.watermark import Payload, Watermarker
from realtime.enhancer_runner import EnhancerRunner
from realtime.generator_runner import GeneratorRunner
from realtime.motion_transfer import FaceWarp, MotionOptions
from realtime.one_euro import OneEuroFilter, OneEuroOptions
from realtime.postprocess import DEFAULT_OUTPUT_SIZE, LAYOUTS
from realtime.retarget import RetargetOptions
from realtime.sinks import Controls, SinkSet
from realtime.stats import RunStats

NO_FACE_DIM = 0.4  # brightness of the last face (or the frame) while no face is found
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


@dataclass
class Packet:
    """One frame on its way through the loop; each stage fills in its part."""

    frame: Frame
    face: FaceLandmarks | None = None
    points: np.ndarray | None = None  # smoothed landmarks, frame pixels
    driver_aligned: np.ndarray | None = None  # the driver's landmarks in the model's crop
    target_aligned: np.ndarray | None = None  # retargeted landmarks drawn into the sketch
    asked: np.ndarray | None = None  # the face the driver's expression asks for, before the clamp (re-enactment)
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
            elapsed = (time.perf_counter() - start) * 1000.0
            packet.stage_ms[stage] = elapsed
            self.stats.add_stage(stage, elapsed)


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


class BackStages:
    """What every kind's back stages share: the kind draws the face (generate, draw, composite), then
    the label, the invisible watermark and the sinks.

    The watermark carries the runner's model id and is applied to every frame the sinks
    get; nothing turns it off. A kind's subclass fills in :meth:`generate` (its network),
    :meth:`draw` (the face as shown, through :meth:`enhance`) and :meth:`composite` (the
    frame before its label).
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
        self._time = StageTimer(stats)
        self.watermarker = Watermarker(Payload.for_model(runner.model_id))

    def warm_up(self) -> None:
        """Run the networks once, so frame 0 does not pay for loading them."""
        self.runner.warm_up()
        if self.enhancer is not None:
            self.enhancer.warm_up()

    def generate(self, packet: Packet) -> Packet:
        """The kind's network on the packet (the offline evaluation stops here)."""
        raise NotImplementedError

    def draw(self, packet: Packet) -> Packet:
        """``packet.drawn``: the generated face as it is shown."""
        raise NotImplementedError

    def composite(self, packet: Packet) -> np.ndarray:
        """The frame before its label, with the drawn face (or a faceless frame's note)."""
        raise NotImplementedError

    def enhance(self, face: np.ndarray, packet: Packet) -> np.ndarray:
        """The face redrawn at twice its size by the enhancer, when there is one and it is on."""
        if self.enhancer is None or not self.controls.enhance or face.shape[0] != self.enhancer.size:
            return face
        with self._time("enhance", packet):
            return self.enhancer.enhance(face)

    def render(self, packet: Packet) -> np.ndarray:
        """Every stage up to the label: the frame before its invisible mark."""
        self.generate(packet)
        self.draw(packet)
        return self._finish(packet)

    def _finish(self, packet: Packet) -> np.ndarray:
        with self._time("post", packet):
            output = self.composite(packet)
        with self._time("label", packet):
            return burn_label(output)

    def __call__(self, packet: Packet, generated: Callable[[], None] | None = None) -> Packet:
        """Every back stage; ``generated`` is called as soon as the face is drawn (network, warp, enhancer).

        The drawing runs before the front stages are let go for the next frame: the
        enhancer is a LiteRT invoke on both cores like the generator, and beside the
        landmarks it took 12.7 ms a frame instead of 3.9.
        """
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
