"""Does a generated face look like one of the target's real faces? A measure of broken frames.

A person-specific generator asked for a face it never learned draws a broken one: colour
speckles, blocky smears, the background bleeding into a cheek. Averages over frames like
the training set cannot see it, so every generated face is compared with the target's real
faces one by one:

- its 64 x 64 colour thumbnail, with the top and bottom 8 rows left out (hair and chin,
  which vary least with the generator's faults), is compared by mean absolute difference
  (0-255) with the thumbnails of up to 3,000 real target crops spread over the training
  split, and the nearest one counts;
- the same distance for the faces the generator draws from the target's own held-out
  sketches is the in-distribution level;
- a frame is broken when its distance exceeds 2.3 times the median of that level;
- but a generator that is poor everywhere would set itself a lenient level, so the level may
  not exceed what a generator known to be good scores against its own footage: the shipped s1
  model's held-out faces lie 1.26 times (local: 1.34 times) as far from s1's training crops as
  s1's own held-out crops do. The real held-out crops' distance is measured for every target
  (it grows with how much the footage varies), so the cap fits the footage, not the model.

The generator's output crop is measured, before the loop moves it with the driver's head:
a moved face would be far from every real crop without being broken.

A whole-face average can miss damage confined to one part of the face: a mouth drawn as
a brown box moves the mean little. So a second, local distance is kept beside it: the
thumbnail is cut into 16 x 16 cells (3 x 4), each cell's distance to the nearest real
crop's same cell is taken, and the worst cell counts; its own in-distribution level and
2.3x rule give ``broken_share_local``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.errors import UserError
from models.sampling import spread

THUMBNAIL = 64
CUT_ROWS = 8  # left out at the top and at the bottom of the thumbnail
REFERENCE_LIMIT = 3000  # real target crops the distance is taken against
LEVEL_LIMIT = 300  # held-out sketches that set the in-distribution level
BROKEN_FACTOR = 2.3  # a frame is broken above this many times the in-distribution median
# The shipped s1 generator's level over s1's real level, (whole, local): 4.14 / 3.28 and
# 5.85 / 4.37 (`reenact eval --driver ... --reference data/s1`, 2026-12-06). The cap on any
# generator's level: a model known to be good, on the footage at hand.
GOOD_LEVEL_RATIO = (1.26, 1.34)
CELL = 16  # side of the local measure's cells, in thumbnail pixels
SHEET_FRAMES = 16
SHEET_TILE = 128


def thumbnail(face: np.ndarray) -> np.ndarray:
    """The measured part of a face crop: (48 * 64 * 3,) float32, 0-255."""
    small = cv2.resize(face, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)
    return small[CUT_ROWS:THUMBNAIL - CUT_ROWS].astype(np.float32).reshape(-1)


def _cell_means(differences: np.ndarray) -> np.ndarray:
    """(R, D) absolute differences of thumbnails to (R, cells): the mean over each 16 x 16 cell."""
    rows, columns = (THUMBNAIL - 2 * CUT_ROWS) // CELL, THUMBNAIL // CELL
    cells = differences.reshape(len(differences), rows, CELL, columns, CELL, 3)
    return cells.mean(axis=(2, 4, 5)).reshape(len(differences), rows * columns)


@dataclass
class BrokenFrameMeasure:
    """Real target thumbnails and the in-distribution levels they give a generator."""

    references: np.ndarray  # (R, D) float32 thumbnails of real target crops
    level: np.ndarray  # (L, 2) whole-face and local distances of the generator's faces from held-out sketches
    # (L, 2) the same distances of the real held-out crops: how far a perfect generator's faces would lie.
    real_level: np.ndarray | None = None

    def _level(self, column: int) -> float:
        """The in-distribution median, capped at a good generator's on this footage."""
        own = float(np.median(self.level[:, column]))
        cap = self._cap(column)
        return own if cap is None else min(own, cap)

    def _cap(self, column: int) -> float | None:
        if self.real_level is None or not len(self.real_level):
            return None
        return round(GOOD_LEVEL_RATIO[column] * float(np.median(self.real_level[:, column])), 2)

    @property
    def threshold(self) -> float:
        return BROKEN_FACTOR * self._level(0)

    @property
    def local_threshold(self) -> float:
        return BROKEN_FACTOR * self._level(1)

    def distances(self, face: np.ndarray) -> tuple[float, float]:
        """(whole-face, local) distances (0-255) of ``face`` to the nearest real target crop.

        Whole-face: the mean absolute difference to the nearest crop. Local: for each cell
        the nearest crop's same cell, then the worst cell.
        """
        probe = thumbnail(face)
        best, best_cells = np.inf, np.full(1, np.inf)
        for start in range(0, len(self.references), 512):  # bounded memory: 512 x D at a time
            differences = np.abs(self.references[start:start + 512] - probe)
            best = min(best, float(differences.mean(axis=1).min()))
            best_cells = np.minimum(best_cells, _cell_means(differences).min(axis=0))
        return best, float(best_cells.max())

    def distance(self, face: np.ndarray) -> float:
        """The whole-face distance alone (see :meth:`distances`)."""
        return self.distances(face)[0]

    @classmethod
    def from_data(cls, data_dir: Path, generate, manifest: dict) -> "BrokenFrameMeasure":
        """From a prepared target data set: its training crops, and ``generate`` on its held-out sketches.

        ``generate`` maps a sketch (S, S, 3) uint8 to a face of the same shape: the runner
        under test, so the level is its own.
        """
        from training.dataset import read_frame

        entries = {split: [frame["id"] for frame in manifest["frames"] if frame["split"] == split]
                   for split in ("train", "val")}
        if not entries["train"] or not entries["val"]:
            raise UserError(f"data {data_dir}: the broken-frame measure needs training and validation frames")
        train_ids = [entries["train"][i] for i in spread(len(entries["train"]), REFERENCE_LIMIT)]
        references = np.stack([thumbnail(read_frame(data_dir, frame_id, ("crop",))["crop"])
                               for frame_id in train_ids])
        measure = cls(references, np.empty((0, 2), np.float32))
        val_ids = [entries["val"][i] for i in spread(len(entries["val"]), LEVEL_LIMIT)]
        measure.level = np.array([measure.distances(generate(read_frame(data_dir, frame_id, ("sketch",))["sketch"]))
                                  for frame_id in val_ids], np.float32)
        measure.real_level = np.array([measure.distances(read_frame(data_dir, frame_id, ("crop",))["crop"])
                                       for frame_id in val_ids], np.float32)
        return measure

    def broken(self, distances: tuple[float, float]) -> bool:
        """Broken by either measure."""
        return distances[0] > self.threshold or distances[1] > self.local_threshold

    def report(self, distances) -> dict:
        """Broken shares and distance percentiles of a run's faces, from (whole, local) pairs (JSON-ready)."""
        pairs = np.asarray(distances, np.float64).reshape(-1, 2)
        if len(pairs) == 0:
            return {"broken_share": None, "broken_share_local": None, "distance_p50": None, "distance_p90": None}
        whole, local = pairs[:, 0], pairs[:, 1]
        return {
            "broken_share": round(float(np.mean(whole > self.threshold)), 4),
            "broken_share_local": round(float(np.mean(local > self.local_threshold)), 4),
            "distance_p50": round(float(np.percentile(whole, 50)), 2),
            "distance_p90": round(float(np.percentile(whole, 90)), 2),
            "local_distance_p50": round(float(np.percentile(local, 50)), 2),
            "local_distance_p90": round(float(np.percentile(local, 90)), 2),
            "broken_threshold": round(self.threshold, 2),
            "broken_threshold_local": round(self.local_threshold, 2),
            "in_distribution_p50": round(float(np.median(self.level[:, 0])), 2),
            "in_distribution_local_p50": round(float(np.median(self.level[:, 1])), 2),
            # The cap (GOOD_LEVEL_RATIO times the real held-out crops' median); None without real crops.
            "level_cap": self._cap(0),
            "level_cap_local": self._cap(1),
            "reference_frames": len(self.references),
        }


def contact_sheet(drivers: list[np.ndarray], faces: list[np.ndarray], broken: list[bool] | None = None,
                  frames: int = SHEET_FRAMES, tile: int = SHEET_TILE) -> np.ndarray:
    """``frames`` evenly spaced pairs, driver above generated, eight to a row; broken faces framed red."""
    if not faces or len(drivers) != len(faces):
        raise ValueError(f"got {len(drivers)} driver images and {len(faces)} faces, expected equal, non-zero counts")
    chosen = spread(len(faces), frames)
    columns = 8
    blank = np.zeros((tile, tile, 3), np.uint8)
    rows = []
    for start in range(0, len(chosen), columns):
        top, bottom = [], []
        for index in chosen[start:start + columns]:
            top.append(cv2.resize(drivers[index], (tile, tile), interpolation=cv2.INTER_AREA))
            face = cv2.resize(faces[index], (tile, tile), interpolation=cv2.INTER_AREA)
            if broken is not None and broken[index]:
                cv2.rectangle(face, (1, 1), (tile - 2, tile - 2), (0, 0, 255), 3)
            bottom.append(face)
        top += [blank] * (columns - len(top))
        bottom += [blank] * (columns - len(bottom))
        rows.append(np.vstack([np.hstack(top), np.hstack(bottom)]))
    return np.vstack(rows)


def write_sheet(path: Path, sheet: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise UserError(f"could not write the contact sheet {path} (expected a .png or .jpg path)")
