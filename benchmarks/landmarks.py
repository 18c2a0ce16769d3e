"""Both landmark stages on the same frames in one run: their times, how far apart their points lie, their sketches.

Run: ``.venv/bin/python -m benchmarks.landmarks [--drivers FOLDER] [--json OUT] [--sheet OUT.jpg]``.

The live loop's default landmark stage (:mod:`models.tracking_landmarker`: the face
landmarker's networks on LiteRT, tracking) and MediaPipe's Tasks API each go over every
frame of each clip, a hundred decoded frames at a time, one stage and then the other, with
the same timestamps. Reported
per clip: each one's p50/p95 milliseconds, ``landmark_speedup`` (Tasks p50 over ours), and
the mean distance between their points per frame in units of the inter-ocular distance
(mean, p95, max), with the frames where only one found a face. ``reenact bench`` runs
:func:`compare_landmarkers` on its own source too. The sheet shows, for frames spread
over each clip, the sketch drawn from each stage's points and their difference, ten times
brighter.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.drivers import SHARED_DRIVERS, driver_clips
from media.sources import open_source
from models import face_topology as topology
from models.alignment import DEFAULT_SIZE, Alignment
from models.errors import UserError
from models.files import write_json
from models.landmarker import LIVE_OPTIONS, FaceLandmarker
from models.sampling import spread
from models.sketch import render_sketch
from models.tracking_landmarker import TrackingLandmarker
from realtime.stats import percentiles

TARGET_SPEEDUP = 2.5
TARGET_DEVIATION = 0.005  # mean point distance over the inter-ocular distance
SHEET_FRAMES = 2  # per clip
CHUNK_FRAMES = 100  # decoded ahead, then timed through each stage in turn
SHEET_TILE = 160


def _sketch(points: np.ndarray) -> np.ndarray:
    aligned = Alignment.from_landmarks(points).apply(points)
    return cv2.resize(render_sketch(aligned, DEFAULT_SIZE), (SHEET_TILE, SHEET_TILE), interpolation=cv2.INTER_AREA)


def _chunks(source: str, max_frames: int | None):
    """The clip's frames, decoded ahead in chunks: decoding, which FFmpeg spreads over threads,
    never runs beside a timed call."""
    chunk = []
    with open_source(source) as frames:
        for index, frame in enumerate(frames):
            if max_frames is not None and index >= max_frames:
                break
            chunk.append(frame)
            if len(chunk) == CHUNK_FRAMES:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _timed(landmarker, frames, points: list, times: list) -> None:
    for frame in frames:
        start = time.perf_counter()
        face = landmarker.detect(frame.image, round(frame.timestamp_ms))
        times.append((time.perf_counter() - start) * 1000.0)
        points.append(None if face is None else face.points)


def compare_landmarkers(source: str, max_frames: int | None = None, sheet_frames: int = 0) -> dict:
    """Both stages over ``source``'s frames (all, or the first ``max_frames``); the figures, and sheet rows.

    Each chunk of frames goes through one stage, then the other: interleaved frame by
    frame, each would run beside the other's idle worker threads, which a live loop never
    does (it slowed ours by a quarter here).
    """
    tasks_points, tasks_ms, our_points, ours_ms = [], [], [], []
    with FaceLandmarker(LIVE_OPTIONS) as tasks, TrackingLandmarker() as ours:
        for chunk in _chunks(source, max_frames):
            _timed(tasks, chunk, tasks_points, tasks_ms)
            _timed(ours, chunk, our_points, ours_ms)
        detector_runs = ours.detector_runs
    deviations, pairs = [], []
    found_by_one = sum((theirs is None) != (mine is None) for theirs, mine in zip(tasks_points, our_points))
    for theirs, mine in zip(tasks_points, our_points):
        if theirs is not None and mine is not None:
            distance = np.linalg.norm(theirs[:, :2] - mine[:, :2], axis=1).mean()
            deviations.append(float(distance / topology.inter_ocular(theirs)))
            pairs.append((theirs, mine))
    if not tasks_ms:
        raise UserError(f"source {source}: no frames could be read")
    tasks_p, ours_p = percentiles(tasks_ms), percentiles(ours_ms)
    report = {
        "source": source, "frames": len(tasks_ms), "frames_compared": len(deviations),
        "found_by_one_only": found_by_one, "detector_runs": detector_runs,
        "tasks_ms": tasks_p, "litert_ms": ours_p,
        "landmark_speedup": round(tasks_p["p50"] / ours_p["p50"], 2) if ours_p["p50"] > 0 else None,
        "deviation_iod": ({"mean": round(float(np.mean(deviations)), 5),
                           "p95": round(float(np.percentile(deviations, 95)), 5),
                           "max": round(float(np.max(deviations)), 5)} if deviations else None),
    }
    rows = []
    if sheet_frames and pairs:
        for position in spread(len(pairs), sheet_frames):
            theirs, mine = pairs[position]
            first, second = _sketch(theirs), _sketch(mine)
            difference = np.clip(np.abs(first.astype(int) - second.astype(int)) * 10, 0, 255).astype(np.uint8)
            rows.append(np.hstack([first, second, difference]))
    return {"report": report, "rows": rows}


def _write_sheet(path: Path, rows: list[np.ndarray]) -> None:
    header = np.zeros((28, rows[0].shape[1], 3), np.uint8)
    for column, title in enumerate(("Tasks API", "LiteRT, tracking", "difference x10")):
        cv2.putText(header, title, (column * SHEET_TILE + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.vstack([header, *rows]), [cv2.IMWRITE_JPEG_QUALITY, 85]):
        raise UserError(f"cannot write the sheet {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.landmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=Path, default=SHARED_DRIVERS, metavar="FOLDER",
                        help=f"driver clips, each compared whole, then 'sample' (default {SHARED_DRIVERS})")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the rows here")
    parser.add_argument("--sheet", type=Path, metavar="OUT.jpg", help="the sketches from both, side by side")
    args = parser.parse_args(argv)
    try:
        clips = driver_clips(args.drivers) if args.drivers.is_dir() else ["sample"]
        reports, rows = [], []
        print(f"{'clip':<26}{'frames':>7}{'tasks p50':>10}{'ours p50':>9}{'speed-up':>9}"
              f"{'mean dev':>9}{'max dev':>9}  (deviation: % of the inter-ocular distance)")
        for clip in clips:
            result = compare_landmarkers(clip, sheet_frames=SHEET_FRAMES if args.sheet else 0)
            report = result["report"]
            reports.append(report)
            rows.extend(result["rows"])
            deviation = report["deviation_iod"] or {"mean": float("nan"), "max": float("nan")}
            speedup = report["landmark_speedup"] if report["landmark_speedup"] is not None else float("nan")
            print(f"{Path(clip).stem:<26}{report['frames']:>7}{report['tasks_ms']['p50']:>10.2f}"
                  f"{report['litert_ms']['p50']:>9.2f}{speedup:>8.2f}x"
                  f"{100 * deviation['mean']:>8.3f}%{100 * deviation['max']:>8.3f}%", flush=True)
        if args.json is not None:
            write_json(args.json, reports)
        if args.sheet is not None and rows:
            _write_sheet(args.sheet, rows)
    except UserError as error:
        print(f"benchmarks.landmarks: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
