"""``reenact landmarks``: the face front-end over a source, as a side-by-side video.

Writes frame | aligned crop | sketch for every frame, so a person can see what the
generator will be given, plus a small JSON of counts and landmark timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from media.recording import Recording
from media.sources import open_source
from models.alignment import DEFAULT_MARGIN, DEFAULT_SIZE, Alignment
from models.errors import UserError
from models.files import write_json
from models.landmarker import FaceLandmarker
from models.sketch import render_sketch
from realtime.one_euro import OneEuroFilter
from realtime.stats import percentiles


@dataclass(frozen=True)
class LandmarksConfig:
    source: str
    out: Path
    stats: Path | None = None
    size: int = DEFAULT_SIZE
    margin: float = DEFAULT_MARGIN
    smooth: bool = False


def _panel(frame: np.ndarray, size: int) -> np.ndarray:
    """The frame scaled to ``size`` pixels high, keeping its aspect."""
    height, width = frame.shape[:2]
    return cv2.resize(frame, (max(1, round(width * size / height)), size), interpolation=cv2.INTER_AREA)


def run_landmarks(config: LandmarksConfig) -> dict:
    """Run the front-end over the source; return (and optionally write) the stats."""
    timings, frames, with_face = [], 0, 0
    config.out.parent.mkdir(parents=True, exist_ok=True)
    smoother = OneEuroFilter() if config.smooth else None
    writer = None
    blank = np.zeros((config.size, config.size, 3), np.uint8)
    with open_source(config.source) as source, FaceLandmarker() as landmarker:
        progress = tqdm(total=source.frame_count, unit="frame", desc="landmarks")
        try:
            for frame in source:
                start = time.perf_counter()
                face = landmarker.detect(frame.image, round(frame.timestamp_ms))
                timings.append((time.perf_counter() - start) * 1000.0)
                frames += 1
                crop, sketch = blank, blank
                if face is not None:
                    with_face += 1
                    points = face.points
                    if smoother is not None:
                        points = smoother(points, frame.timestamp_ms / 1000.0)
                    alignment = Alignment.from_landmarks(points, config.size, config.margin)
                    crop = alignment.warp(frame.image)
                    sketch = render_sketch(alignment.apply(points), config.size)
                row = np.hstack([_panel(frame.image, config.size), crop, sketch])
                if writer is None:
                    writer = Recording(config.out, row.shape[1], row.shape[0], source.fps)
                writer.write(row)
                progress.update(1)
        finally:
            progress.close()
            if writer is not None:
                writer.close()
    if frames == 0:
        raise UserError(f"source {config.source}: no frames could be read")
    stats = {"source": config.source, "frames": frames, "frames_with_face": with_face,
             "landmark_ms": percentiles(timings)}
    if config.stats is not None:
        write_json(config.stats, stats)
    return stats
