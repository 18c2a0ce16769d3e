"""The face-swap mode's stages: the driver's own frame, with the target's face pasted on the driver's.

Front (the front thread): landmarks, One-Euro smoothing, and the driver's face aligned to
the model's crop. Back (the main thread): the swap model (the shared encoder and the
target's decoder) draws the target's face with the driver's expression and pose; the face
is colour-matched to the driver's inside the face mask (mean and spread of each LAB
channel, as DeepFaceLive does by default), enhanced, given the driver's face's fine detail
where it has less (:func:`match_detail`), and pasted back with the inverse of the
alignment through that mask, eroded and feathered in aligned space
(:mod:`models.swap_mask`). Every pixel outside the mask is the driver's own. A model whose
architecture says ``"input": "face"`` is shown the face alone, mid-grey beyond it, as it
was in training; older ones the whole crop. Then the
label and the invisible mark, as in re-enactment. The output keeps the source frame's size.

Before the paste, the drawn mouth follows the driver's (``PipelineOptions.follow_mouth``):
the target's decoder draws only the mouths its footage showed (s1 opens his at most 0.35 of
the inter-ocular distance and rarely past 0.2), so a driver's yawn came out half open. The
landmark network finds the drawn face's lips, and the lower lip and chin are moved
(:func:`models.column_warp.drop_jaw`) until the drawn opening is the driver's.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.alignment import Alignment
from models.column_warp import drop_jaw
from models.face_topology import inter_ocular, mouth_opening
from models.metrics import sharpness
from models.swap_mask import FACE_INPUT, FEATHER, face_mask, face_only, feathered
from models.tracking_landmarker import TrackingLandmarker
from provenance.label import write_note
from realtime import kernels
from realtime.one_euro import OneEuroOptions
from realtime.stages import NO_FACE_DIM, NO_FACE_NOTE, BackStages, LandmarkStages, Packet

_LAB_FLOOR = 1.0  # a channel's spread below this (a flat patch) is not divided by
# A drawn mouth opening (inner-lip gap / inter-ocular) below this is shut lips: stretching
# them would draw taller lips, not an open mouth, so such a mouth is left as drawn; and a
# mouth is never closed past it. The follow opens a mouth by at most MOUTH_FOLLOW_MOST.
MOUTH_FOLLOW_FROM = 0.02
MOUTH_FOLLOW_MOST = 0.3
DETAIL_MOST = 3.0  # the most a pasted face's fine detail is amplified to match the driver's face
# The detail aimed at, over the driver's aligned face's, in amplitude. Matched at 1.0 in the
# crop, the face came out of the paste (resampled into the frame, its edge feathered) with
# 0.87 of the driver's detail in amplitude as the frame shows it (0.75 in variance on
# expressions_7s), so the crop aims that much higher.
DETAIL_AIM = 1.15
DETAIL_BLUR = 3.0 / 512  # the unsharp mask's blur, as a share of the face's size


def follow_mouth(face: np.ndarray, points: np.ndarray, driver_points: np.ndarray) -> np.ndarray:
    """``face`` with its mouth (lips at ``points``, its landmarks) opened or closed to the opening
    of ``driver_points``, by dropping or raising its lower lip and chin; as it was if shut."""
    drawn, wanted = mouth_opening(points), mouth_opening(driver_points)
    if drawn < MOUTH_FOLLOW_FROM:
        return face
    change = float(np.clip(wanted - drawn, MOUTH_FOLLOW_FROM - drawn, MOUTH_FOLLOW_MOST))
    return drop_jaw(face, points[:, :2], change * inter_ocular(points))[0]


def transfer_colour(face: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``face`` with each LAB channel's mean and spread inside ``mask`` (> 0.5) made ``reference``'s.

    The per-channel linear map is applied as one 256-entry look-up table per channel.
    """
    inside = (mask > 0.5).astype(np.uint8)
    if int(inside.sum()) < 16:
        return face
    face_lab, reference_lab = cv2.cvtColor(face, cv2.COLOR_BGR2LAB), cv2.cvtColor(reference, cv2.COLOR_BGR2LAB)
    face_mean, face_spread = (value.ravel() for value in cv2.meanStdDev(face_lab, mask=inside))
    reference_mean, reference_spread = (value.ravel() for value in cv2.meanStdDev(reference_lab, mask=inside))
    scale = reference_spread / np.maximum(face_spread, _LAB_FLOOR)
    levels = np.arange(256, dtype=np.float64)[:, None]
    table = np.clip((levels - face_mean) * scale + reference_mean + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.LUT(face_lab, table.reshape(1, 256, 3)), cv2.COLOR_LAB2BGR)


def match_detail(face: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``face`` with its fine detail raised towards ``DETAIL_AIM`` times ``reference``'s inside ``mask`` (0/1),
    never lowered.

    Both are aligned crops of one face; ``reference`` and ``mask`` at one size, ``face`` at
    that size or larger (the enhancer's). Detail is the variance of the Laplacian at the
    reference's size; the face's is raised by an unsharp mask, at most ``DETAIL_MOST`` times
    in amplitude. A pasted face softer than the skin around it reads as a mask: on
    ``expressions_7s`` the swapped face had 0.71 of the driver's own face's detail, 0.76 after
    matching at 1.0, 0.92 aiming at ``DETAIL_AIM``.
    """
    size = reference.shape[0]
    inner = cv2.erode(mask, np.ones((9, 9), np.uint8))  # the face's inside, clear of the oval's edge
    drawn = face if face.shape[0] == size else cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    gain = DETAIL_AIM * float(np.sqrt(sharpness(reference, inner) / max(sharpness(drawn, inner), 1e-6)))
    if not gain > 1.0:  # also NaN: an empty mask
        return face
    blurred = cv2.GaussianBlur(face, (0, 0), DETAIL_BLUR * face.shape[0])
    return cv2.addWeighted(face, min(gain, DETAIL_MOST), blurred, 1.0 - min(gain, DETAIL_MOST), 0.0)


def paste_face(frame: np.ndarray, face: np.ndarray, mask: np.ndarray, alignment: Alignment) -> np.ndarray:
    """A new frame: ``frame`` with the aligned ``face`` (S, S, 3) mapped back through ``mask`` (S, S)."""
    height, width = frame.shape[:2]
    size = face.shape[0]
    inverse = alignment.inverse().matrix
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    left, top = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    right, bottom = np.minimum(np.ceil(corners.max(0)).astype(int), (width, height))
    output = frame.copy()
    if right <= left or bottom <= top:
        return output  # the face lies outside the frame
    shifted = inverse.copy()
    shifted[:, 2] -= (left, top)
    box = (int(right - left), int(bottom - top))
    face_box = cv2.warpAffine(face, shifted, box, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask_box = cv2.warpAffine(mask, shifted, box, flags=cv2.INTER_LINEAR, borderValue=0.0)
    region = np.ascontiguousarray(frame[top:bottom, left:right])
    output[top:bottom, left:right] = kernels.blend(region, face_box, mask_box, np.empty_like(region))
    return output


class SwapFront(LandmarkStages):
    """Landmarks, smoothing and alignment: the driver's aligned face, the swap model's input."""

    def __init__(self, landmarker, size: int, margin: float, stats, smoothing: OneEuroOptions = OneEuroOptions()):
        super().__init__(landmarker, stats, smoothing)
        self.size, self.margin = size, margin

    def __call__(self, packet: Packet) -> Packet:
        if not self.track(packet):
            return packet
        frame = packet.frame
        with self._time("align", packet):
            packet.alignment = Alignment.from_landmarks(packet.points, self.size, self.margin)
            packet.driver_aligned = packet.alignment.apply(packet.points)
            packet.aligned_face = packet.alignment.warp(frame.image)
            packet.face_mask = face_mask(packet.driver_aligned, self.size)  # for the model's view and the paste
        return packet


class SwapBack(BackStages):
    """The swap model, the mouth follow, colour transfer and paste, label, invisible mark and sinks."""

    paste_feather = (FEATHER, FEATHER)  # the paste mask's erosion and blur (models.swap_mask.feathered)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Its own landmark network: the front stage's runs on another thread.
        self._mouth_reader = TrackingLandmarker() if self.options.follow_mouth else None

    @property
    def face_only(self) -> bool:
        """Whether the model was trained on the face alone (``training.config.SwapConfig.face_only``)."""
        return self.runner.metadata.architecture.get("input") == FACE_INPUT

    def shown(self, aligned_face: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What the model is shown of an aligned face with 0/1 face ``mask``: what its training showed."""
        return face_only(aligned_face, mask) if self.face_only else aligned_face

    def warm_up(self) -> None:
        super().warm_up()
        size = self.runner.size
        kernels.blend(np.zeros((size, size, 3), np.uint8), np.zeros((size, size, 3), np.uint8),
                      np.zeros((size, size), np.float32), np.zeros((size, size, 3), np.uint8))
        if self._mouth_reader is not None:
            self._mouth_reader.points_near(np.zeros((size, size, 3), np.uint8),
                                           np.asarray(self.runner.metadata.neutral_landmarks, np.float32))
        # The watermark's pattern is built for the source's frame size on the first frame.

    def generate(self, packet: Packet) -> Packet:
        if packet.aligned_face is not None:
            with self._time("generator", packet):
                packet.generated = self.runner.generate(self.shown(packet.aligned_face, packet.face_mask))
            if self._mouth_reader is not None:
                with self._time("mouth", packet):
                    points = self._mouth_reader.points_near(packet.generated, packet.driver_aligned)
                    if points is not None:
                        packet.generated = follow_mouth(packet.generated, points, packet.driver_aligned)
        return packet

    def draw(self, packet: Packet) -> Packet:
        """The generated face colour-matched to the driver's inside the mask, then enhanced (with its
        paste mask at the enhancer's size), and given the driver's face's fine detail where it has less."""
        if packet.generated is None:
            return packet
        with self._time("colour", packet):
            mask = feathered(packet.face_mask, *self.paste_feather)
            face = transfer_colour(packet.generated, packet.aligned_face, mask)
        if self.enhancer is not None and self.controls.enhance:  # redrawn at the enhancer's size, pasted from there
            size = self.enhancer.size
            face = self.enhance(cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC), packet)
            mask = cv2.resize(mask, face.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        with self._time("detail", packet):
            face = match_detail(face, packet.aligned_face, packet.face_mask)
        packet.drawn, packet.drawn_mask = face, mask
        return packet

    def composite(self, packet: Packet) -> np.ndarray:
        """The swapped frame before its label: the driver's frame with the target's face in it."""
        image = packet.frame.image
        if packet.generated is None:  # no face: the frame dimmed, with a note, never a real face unlabelled
            output = kernels.dim(image, NO_FACE_DIM, np.empty_like(image))
            write_note(output, NO_FACE_NOTE)
            return output
        if packet.drawn is None:
            self.draw(packet)
        face = packet.drawn
        alignment = Alignment(packet.alignment.matrix * (face.shape[0] / packet.alignment.size), face.shape[0])
        return paste_face(image, face, packet.drawn_mask, alignment)

