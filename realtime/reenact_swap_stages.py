"""Swap by re-enactment (as FSGAN does): the target's own generator draws him with the driver's
expression and pose, and his face is pasted into the driver's frame.

The front is re-enactment's (:class:`realtime.reenact_stages.ReenactFront`): landmarks,
retargeting onto the target's face, the sketch, and the warp that turns the drawn face by
the driver's yaw and pitch and carries the expression the target never showed; but not the
in-plane head motion, since the paste puts the face where the driver's is. It also keeps
what the paste needs: the driver's alignment, aligned face, and the mask, the driver's face
oval within the target's (so neither's cheeks or background show through the other's).
The back is the swap's (:class:`realtime.swap_stages.SwapBack`) with the generator and the
warp in place of the autoencoder: colour transfer to the driver's light inside the mask,
the enhancer, and the feathered paste. It runs with ``--mode swap`` and a re-enactment
generator as the model (``models.kinds``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models.swap_mask import THIN_FEATHER, face_mask
from realtime.motion_transfer import MotionOptions
from realtime.reenact_stages import ReenactFront
from realtime.stages import Packet
from realtime.swap_stages import SwapBack

# What the warp carries beyond the face the generator drew moves the target's features off his own:
# on expressive_34s' grimaces the swapped face was 0.378 from s1 by dlib's recognizer with
# re-enactment's carry (brows amplified twice, everything carried whole), 0.357 with the brows
# carried as they are, 0.338 with that and the carry at 0.7 (40 frames each).
SWAP_MOTION = MotionOptions(expression_gain=0.7, brow_gain=1.0)


class ReenactSwapFront(ReenactFront):
    """Re-enactment's front without the in-plane head motion, plus the driver's crop and the paste mask."""

    def __init__(self, *args, options=None, **kwargs):
        super().__init__(*args, options=dataclasses.replace(options, follow_head=False, motion=SWAP_MOTION), **kwargs)

    def __call__(self, packet: Packet) -> Packet:
        super().__call__(packet)
        if packet.alignment is not None:
            with self._time("align", packet):
                packet.aligned_face = packet.alignment.warp(packet.frame.image)
                packet.face_mask = np.minimum(face_mask(packet.driver_aligned, self.size),
                                              face_mask(packet.target_aligned, self.size))
        return packet


class ReenactSwapBack(SwapBack):
    """The target's generator on the sketch and the warp, then the swap's colour transfer, enhancer and paste."""

    paste_feather = THIN_FEATHER  # the generator draws the whole crop: nothing soft to hide at the edge

    def __init__(self, runner, stats, controls, options, sinks=None, enhancer=None):
        # The drawn mouth is the sketch's, the driver's own: nothing for the mouth follow to correct.
        super().__init__(runner, stats, controls, dataclasses.replace(options, follow_mouth=False), sinks, enhancer)

    def generate(self, packet: Packet) -> Packet:
        if packet.sketch is None:
            return packet
        with self._time("generator", packet):
            face = self.runner.generate(packet.sketch)
        if packet.face_warp is not None:
            with self._time("warp", packet):
                face = packet.face_warp.apply(face)
        packet.generated = face
        return packet
