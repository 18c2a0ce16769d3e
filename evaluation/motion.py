"""Does the face move like the driver's? Head pose and blendshapes of the output against the driver.

MediaPipe's Tasks API (IMAGE mode, blendshapes and the facial transformation matrix) reads
the driver's frame and the loop's final output frame (after every stage, as a viewer sees
it). Each measure is taken relative to its clip's neutral (the median over the calibration
frames), and for every measure the driver really moves on (its 5th-95th percentile range
of change at least :data:`POSE_FLOOR_DEGREES` or :data:`BLENDSHAPE_FLOOR`) the report gives:

- ``corr``: Pearson's r between the driver's change and the output's;
- ``gain``: the least-squares slope of the output's change on the driver's (1.0: the face
  moves as much as the driver's; 0.05 with r = 0.9 is a face that hardly moves);
- ``mae``: the mean absolute difference of the two changes (pose in degrees: the field's
  APD; blendshapes: an AED-like mean).

Frames where either face is not found are left out of the pairs (``paired`` counts them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from models.head_pose import angles
from models.landmarker import FaceLandmarks
from models.metrics import pearson_correlation

POSE = ("yaw", "pitch", "roll")
BLENDSHAPES = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
               "mouthPucker", "mouthFunnel", "browInnerUp", "browDownLeft", "browDownRight",
               "browOuterUpLeft", "browOuterUpRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft", "eyeWideRight")
MEASURES = POSE + BLENDSHAPES
# A driver "moves" on a measure when the 5th-95th percentile range of its change reaches these.
POSE_FLOOR_DEGREES = 4.0
BLENDSHAPE_FLOOR = 0.15
# The headline groups: a pair of blendshapes (left and right) is one measure there.
GROUPS = {"mouthSmile": ("mouthSmileLeft", "mouthSmileRight"), "mouthFrown": ("mouthFrownLeft", "mouthFrownRight"),
          "browDown": ("browDownLeft", "browDownRight"), "browOuterUp": ("browOuterUpLeft", "browOuterUpRight"),
          "eyeBlink": ("eyeBlinkLeft", "eyeBlinkRight"), "eyeWide": ("eyeWideLeft", "eyeWideRight")}


def motion_sample(face: FaceLandmarks | None) -> dict[str, float] | None:
    """Every measure of one face (it must come with pose and blendshapes), None for no face."""
    if face is None:
        return None
    if face.pose is None or not face.blendshapes:
        raise ValueError("got a face without pose or blendshapes, expected a landmarker asked for both")
    sample = dict(zip(POSE, angles(face.pose)))  # MediaPipe's matrix: the same convention
    sample.update({name: face.blendshapes.get(name, 0.0) for name in BLENDSHAPES})
    return sample


def _floor(measure: str) -> float:
    return POSE_FLOOR_DEGREES if measure in POSE else BLENDSHAPE_FLOOR


def _changes(samples: list[dict | None], measure: str, neutral_frames: int) -> np.ndarray:
    """The measure over the clip minus its neutral (NaN where no face); the neutral is the first frames' median."""
    values = np.array([np.nan if s is None else s[measure] for s in samples], np.float64)
    if not np.isfinite(values).any():
        return values  # never measured (no face, or a stage without this measure)
    first = values[:max(neutral_frames, 1)]
    neutral = np.nanmedian(first) if np.isfinite(first).any() else np.nanmedian(values)
    return values - neutral


def _round(value: float, places: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), places)


def compare_motion(driver: list[dict | None], output: list[dict | None], neutral_frames: int = 30) -> dict:
    """Per measure: the driver's spread, and where it moves, r, gain and MAE of the output's change.

    ``driver`` and ``output`` are per-frame :func:`motion_sample` results of one clip, frame
    for frame. Returns ``{"measures": {name: {...}}, "summary": {...}}``.
    """
    if len(driver) != len(output):
        raise ValueError(f"got {len(driver)} driver samples and {len(output)} output samples, expected as many")
    measures = {}
    for name in MEASURES:
        d, o = _changes(driver, name, neutral_frames), _changes(output, name, neutral_frames)
        paired = np.isfinite(d) & np.isfinite(o)
        spread = float(np.subtract(*np.percentile(d[np.isfinite(d)], [95, 5]))) if np.isfinite(d).any() else 0.0
        entry = {"driver_spread": _round(spread), "moves": bool(spread >= _floor(name) and paired.sum() >= 3),
                 "paired": int(paired.sum())}
        if entry["moves"]:
            dp, op = d[paired], o[paired]
            gain = float(np.polyfit(dp, op, 1)[0]) if np.ptp(dp) > 0 else math.nan
            entry.update(corr=_round(pearson_correlation(dp, op)), gain=_round(gain),
                         mae=_round(float(np.mean(np.abs(op - dp)))))
        measures[name] = entry
    return {"measures": measures, "summary": _summary(measures)}


def _summary(measures: dict) -> dict:
    """The headline figures: pose gains and r, each group's gain, the median blendshape gain."""
    summary = {}
    for name in POSE:
        entry = measures[name]
        summary[f"{name}_gain"] = entry.get("gain")
        summary[f"{name}_corr"] = entry.get("corr")
        summary[f"{name}_mae"] = entry.get("mae")
    summary["pose_apd"] = _round(np.mean([measures[n]["mae"] for n in POSE if measures[n]["moves"]])
                                 if any(measures[n]["moves"] for n in POSE) else math.nan)
    for group, names in {**{n: (n,) for n in ("jawOpen", "browInnerUp", "mouthPucker", "mouthFunnel")},
                         **GROUPS}.items():
        gains = [measures[n]["gain"] for n in names if measures[n]["moves"] and measures[n]["gain"] is not None]
        summary[f"{group}_gain"] = _round(float(np.mean(gains))) if gains else None
    moving = [measures[n] for n in BLENDSHAPES if measures[n]["moves"] and measures[n]["gain"] is not None]
    summary["blendshape_gain_p50"] = _round(float(np.median([m["gain"] for m in moving]))) if moving else None
    summary["blendshape_aed"] = _round(float(np.mean([m["mae"] for m in moving]))) if moving else None
    summary["blendshapes_measured"] = len(moving)
    return summary


def plot_motion(path: Path, driver: list[dict | None], output: list[dict | None], fps: float,
                neutral_frames: int = 30, title: str = "") -> None:
    """The driver's and the output's yaw, pitch and smile over time, one small panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = np.arange(len(driver)) / max(fps, 1e-6)
    panels = (("yaw", "yaw (deg)", ("yaw",)), ("pitch", "pitch (deg)", ("pitch",)),
              ("smile", "mouthSmile L+R / 2", GROUPS["mouthSmile"]))
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 5.2), sharex=True)
    for axis, (_, label, names) in zip(axes, panels):
        for samples, colour, who in ((driver, "tab:blue", "driver"), (output, "tab:red", "output")):
            series = np.mean([_changes(samples, n, neutral_frames) for n in names], axis=0)
            axis.plot(seconds, series, colour, linewidth=1.2, label=who)
        axis.set_ylabel(label, fontsize=8)
        axis.grid(alpha=0.3)
        axis.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("seconds", fontsize=8)
    figure.suptitle(title or "driver vs output, change from the clip's neutral", fontsize=9)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
