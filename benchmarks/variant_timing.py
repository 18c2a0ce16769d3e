"""Generator variants timed side by side on identical sketches, in this process.

Every variant runs through the live loop's own :class:`GeneratorRunner` (LiteRT,
XNNPACK, the same thread count, the same conversions on either side of ``invoke``), so a
figure here is the ``generator`` stage the loop would see. All runners are loaded and
warmed up first; then each round invokes every variant once on the same sketch, so a
burst of load from elsewhere on the machine hits all of them alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.sources import open_source
from models.alignment import Alignment
from models.generator_contract import GeneratorMetadata
from models.landmarker import FaceLandmarker, LandmarkerOptions
from models.sketch import render_sketch
from realtime.generator_runner import DEFAULT_THREADS, GeneratorOptions, GeneratorRunner
from realtime.stats import percentiles

SKETCH_FRAMES = 8  # driver frames whose sketches every variant gets
SKETCH_SPACING = 10  # frames apart, so that the sketches differ


@dataclass(frozen=True)
class Variant:
    """A generator file to time, and how to report it."""

    name: str
    role: str  # "shipped", "reference", "shipped architecture" or "candidate"
    path: Path


def driver_faces(source: str, metadata: GeneratorMetadata, count: int = SKETCH_FRAMES) -> list[np.ndarray]:
    """Aligned landmarks (at the model's input size) of a few frames of ``source``.

    The model's neutral face stands in when the driver shows none, so there is always
    something to draw.
    """
    faces = []
    with open_source(source) as frames, FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        for index in range(count * SKETCH_SPACING):
            frame = frames.read()
            if frame is None:
                break
            if index % SKETCH_SPACING:
                continue
            face = landmarker.detect(frame.image)
            if face is not None:
                alignment = Alignment.from_landmarks(face.points, metadata.input_size, metadata.margin)
                faces.append(alignment.apply(face.points))
    return faces or [metadata.neutral]


def time_variants(variants: list[Variant], faces: list[np.ndarray], face_size: int, invokes: int = 50,
                  num_threads: int = DEFAULT_THREADS, warmup: int = 3) -> list[dict]:
    """p50/p95 of ``GeneratorRunner.generate`` per variant, ``invokes`` interleaved rounds each.

    ``faces`` are aligned landmarks at ``face_size`` pixels; each variant gets them drawn
    at its own input size.
    """
    runners = [GeneratorRunner.from_file(GeneratorOptions(variant.path, num_threads)) for variant in variants]
    sketches = {runner.size: [render_sketch(face * (runner.size / face_size), runner.size) for face in faces]
                for runner in runners}
    outputs = [np.empty((runner.size, runner.size, 3), np.uint8) for runner in runners]
    for runner, out in zip(runners, outputs):
        for round_index in range(warmup):  # first invokes pack weights and page them in
            runner.generate(sketches[runner.size][round_index % len(faces)], out)
    samples: list[list[float]] = [[] for _ in runners]
    for round_index in range(invokes):
        for runner, out, series in zip(runners, outputs, samples):
            sketch = sketches[runner.size][round_index % len(faces)]
            start = time.perf_counter()
            runner.generate(sketch, out)
            series.append((time.perf_counter() - start) * 1000.0)
    return [{
        "name": variant.name,
        "role": variant.role,
        "file": variant.path.name,
        "file_mb": round(variant.path.stat().st_size / 2**20, 2),
        "input_size": runner.size,
        "tensors": f"{runner.input_dtype} in, {runner.output_dtype} out",
        "generator_ms": percentiles(series, (50, 95)),
        "invokes": len(series),
    } for variant, runner, series in zip(variants, runners, samples)]


def reference_speedup(rows: list[dict]) -> float | None:
    """Reference p50 over shipped p50, both from ``rows``, to one decimal (below 1, to two
    significant digits: a reference far faster than the shipped model must not read 0.0);
    None unless both were timed."""
    by_role = {row["role"]: row["generator_ms"]["p50"] for row in rows}
    if "reference" not in by_role or not by_role.get("shipped"):
        return None
    ratio = by_role["reference"] / by_role["shipped"]
    return round(ratio, 1) if ratio >= 1 else float(f"{ratio:.2g}")
