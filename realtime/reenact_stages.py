"""Re-enactment's stages: the driver's face drives the target's, drawn by a generator from a sketch.

Front (the front thread): landmarks and smoothing (:class:`realtime.stages.LandmarkStages`),
the driver's head turn taken out, retargeting onto the target's face, the sketch, and the
warp that puts the turn and the expression the target never showed back
(:mod:`realtime.motion_transfer`). Back (the main thread): the generator, the warp, the face
enhancer, the layout, then the shared tail (label, mark, sinks).
"""

from __future__ import annotations

import cv2
import numpy as np

from models.alignment import Alignment
from models.landmarker import FaceLandmarker
from models.sketch import render_sketch
from models.tracking_landmarker import TrackingLandmarker
from provenance.label import write_note
from realtime import kernels
from realtime.motion_transfer import MotionTransfer
from realtime.mouth_inside import MouthInside
from realtime.one_euro import OneEuroOptions
from realtime.postprocess import compose, frame_shape
from realtime.retarget import HeadMotion, Retargeter
from realtime.sinks import Controls
from realtime.stages import NO_FACE_DIM, NO_FACE_NOTE, BackStages, LandmarkStages, Packet, PipelineOptions
from realtime.stats import RunStats


class ReenactFront(LandmarkStages):
    """Landmarks, smoothing, retargeting and sketch: everything before the generator."""

    def __init__(self, landmarker: TrackingLandmarker | FaceLandmarker, retargeter: Retargeter, size: int,
                 margin: float, stats: RunStats, smoothing: OneEuroOptions = OneEuroOptions(),
                 controls: Controls | None = None, options: PipelineOptions = PipelineOptions(),
                 inside: MouthInside | None = None):
        super().__init__(landmarker, stats, smoothing)
        self.retargeter = retargeter
        self.size, self.margin = size, margin
        self.controls = controls
        self.options = options
        self.head_motion = HeadMotion(size, retargeter.options.calibrate_frames)
        self.motion = MotionTransfer(size, retargeter.target_neutral, options.motion,
                                     retargeter.options.calibrate_frames, inside)

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
            packet.alignment = alignment = Alignment.from_landmarks(packet.points, self.size, self.margin)
            packet.driver_aligned = alignment.apply(packet.points)
            frontal = self.motion.frontalise(packet.driver_aligned, packet.points, packet.frame.image.shape[1::-1])
            packet.target_aligned, packet.asked = self.retargeter.retarget(frontal)
            packet.head_motion = self.head_motion(alignment.matrix) if self.options.follow_head else None
        with self._time("sketch", packet):
            packet.sketch = render_sketch(packet.target_aligned, self.size)
        if self.retargeter.driver_neutral is not None:  # calibrated, if only provisionally
            with self._time("motion", packet):
                packet.face_warp = self.motion.warp(packet.target_aligned, packet.asked, packet.head_motion)
        return packet


class ReenactBack(BackStages):
    """The generator on the sketch, the warp with the driver's head and expression, the enhancer,
    and the layout (``target``, ``side-by-side``, ``pip``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.canvas_shape = frame_shape(self.options.layout, self.options.output_size)
        self._last_face = np.zeros((self.runner.size, self.runner.size, 3), np.uint8)

    def warm_up(self) -> None:
        super().warm_up()
        kernels.dim(self._last_face, NO_FACE_DIM, np.empty_like(self._last_face))
        self.watermarker.embed(np.zeros((*self.canvas_shape, 3), np.uint8))  # builds the frame-size pattern

    def generate(self, packet: Packet) -> Packet:
        if packet.sketch is not None:
            with self._time("generator", packet):
                packet.generated = self.runner.generate(packet.sketch)
        return packet

    def draw(self, packet: Packet) -> Packet:
        """The generated face moved by the driver's head and expression, then enhanced."""
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

    def composite(self, packet: Packet) -> np.ndarray:
        """The drawn face laid out with the driver's frame; without a face the last one, dimmed, with a note."""
        if packet.drawn is None:
            face = kernels.dim(self._last_face, NO_FACE_DIM, np.empty_like(self._last_face))
        else:
            face = self._last_face = packet.drawn
        output = compose(self.controls.layout, face, packet.frame.image, self.options.output_size, self.canvas_shape)
        if packet.drawn is None:
            write_note(output, NO_FACE_NOTE)
        return output
