"""What a marked frame may go through on its way to a viewer: the attacks the watermark must survive.

Each attack maps a list of frames (BGR uint8) to a list of frames. The tests and the
watermark benchmark use this one set: lossy re-encoding, rescaling, cropping, colour
changes, and blacking out the visible label.
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np

from media.recording import Recording
from provenance.label import banner_height


def _jpeg(quality: int):
    def attack(frames):
        return [cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
                for frame in frames]
    return attack


def mp4_reencode(frames, fps: float = 30.0):
    """Written as the file sink writes (H.264, :mod:`media.recording`), decoded, written and decoded again."""
    height, width = frames[0].shape[:2]
    for _ in range(2):
        handle, name = tempfile.mkstemp(suffix=".mp4")
        os.close(handle)
        try:
            recording = Recording(name, width, height, fps)
            for frame in frames:
                recording.write(frame)
            recording.close()
            capture, frames = cv2.VideoCapture(name), []
            while (result := capture.read())[0]:
                frames.append(result[1][:height, :width])  # without the padding to even sides
            capture.release()
        finally:
            os.remove(name)
    return frames


def _resize(factor: float):
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return lambda frames: [cv2.resize(frame, None, fx=factor, fy=factor, interpolation=interpolation)
                           for frame in frames]


def crop_10_percent(frames):
    """90% of each side kept, off-centre (7% from the top, 3% from the left)."""
    cropped = []
    for frame in frames:
        height, width = frame.shape[:2]
        top, left = round(0.07 * height), round(0.03 * width)
        cropped.append(frame[top:top + round(0.9 * height), left:left + round(0.9 * width)].copy())
    return cropped


def _brightness(gain: float):
    return lambda frames: [np.clip(frame * np.float32(gain) + 0.5, 0, 255).astype(np.uint8) for frame in frames]


def _contrast(gain: float):
    def attack(frames):
        out = []
        for frame in frames:
            mean = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).mean()
            out.append(np.clip(mean + gain * (frame.astype(np.float32) - mean) + 0.5, 0, 255).astype(np.uint8))
        return out
    return attack


def black_out_label(frames):
    blacked = []
    for frame in frames:
        frame = frame.copy()
        frame[:banner_height(frame.shape[0])] = 0
        blacked.append(frame)
    return blacked


ATTACKS = {
    "none": lambda frames: list(frames),
    "jpeg 50": _jpeg(50), "jpeg 70": _jpeg(70), "jpeg 90": _jpeg(90),
    "mp4 x2": mp4_reencode,
    "resize 0.5x": _resize(0.5), "resize 1.5x": _resize(1.5),
    "crop 10%": crop_10_percent,
    "bright +20%": _brightness(1.2), "bright -20%": _brightness(0.8),
    "contrast +20%": _contrast(1.2), "contrast -20%": _contrast(0.8),
    "label black": black_out_label,
}
