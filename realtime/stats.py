"""Run statistics: frame counts, capture-to-sink latency and per-stage timings.

Stages time themselves into a shared :class:`RunStats` (thread-safe: the stages run in
different threads). :meth:`RunStats.summary` is what ``--stats STATS.json`` holds and
what the window's HUD shows.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import defaultdict, deque
from pathlib import Path

import numpy as np

from models.files import write_json

RECENT_FRAMES = 60  # the HUD's rolling window
MAX_SAMPLES = 100_000  # per series: about an hour at 30 fps kept exactly, a sample after that


def percentiles(values_ms, which=(50, 95, 99)) -> dict[str, float]:
    """``{"p50": .., "p95": .., ...}`` of a list of milliseconds (zeros when empty)."""
    if len(values_ms) == 0:
        return {f"p{p}": 0.0 for p in which}
    return {f"p{p}": round(float(v), 3) for p, v in zip(which, np.percentile(values_ms, which))}


class Samples:
    """Timings of one series; past ``capacity`` a uniform random sample (reservoir) of them.

    Keeps a day-long webcam session's memory flat while its percentiles stay honest. The
    values are packed doubles (8 bytes each, where a list of floats takes 32), so the
    dozen series of an hour-long run hold about 10 MB, not 40.
    """

    def __init__(self, capacity: int = MAX_SAMPLES, seed: int = 0):
        self.capacity = capacity
        self.count = 0
        self.values = array("d")
        self._random = np.random.default_rng(seed)

    def append(self, value: float) -> None:
        self.count += 1
        if len(self.values) < self.capacity:
            self.values.append(value)
            return
        slot = int(self._random.integers(self.count))
        if slot < self.capacity:
            self.values[slot] = value

    def __len__(self) -> int:
        return len(self.values)


class RunStats:
    """Counts and timings of one run of the live loop."""

    def __init__(self):
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.frames_dropped = 0
        self.frames_without_face = 0
        self._stage_ms: dict[str, Samples] = defaultdict(Samples)
        self._recent_stage_ms: dict[str, deque] = defaultdict(lambda: deque(maxlen=RECENT_FRAMES))
        self._latency_ms = Samples()
        self._output_times: deque = deque(maxlen=RECENT_FRAMES)
        self._first_capture: float | None = None
        self._last_output: float | None = None

    def add_stage(self, stage: str, milliseconds: float) -> None:
        with self._lock:
            self._stage_ms[stage].append(milliseconds)
            self._recent_stage_ms[stage].append(milliseconds)

    def count_in(self, capture_time: float) -> None:
        with self._lock:
            self.frames_in += 1
            if self._first_capture is None:
                self._first_capture = capture_time

    def count_dropped(self, count: int = 1) -> None:
        with self._lock:
            self.frames_dropped += count

    def count_out(self, capture_time: float, has_face: bool) -> None:
        """One frame delivered to the sinks; its latency runs from capture to now."""
        now = time.perf_counter()
        with self._lock:
            self.frames_out += 1
            self.frames_without_face += 0 if has_face else 1
            self._latency_ms.append((now - capture_time) * 1000.0)
            self._output_times.append(now)
            self._last_output = now

    def recent_fps(self) -> float:
        """Output frame rate over the last few dozen frames (the HUD's figure)."""
        with self._lock:
            times = list(self._output_times)
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def recent_stage_ms(self) -> dict[str, float]:
        """Mean milliseconds of each stage over the last few dozen frames."""
        with self._lock:
            return {stage: float(np.mean(values)) for stage, values in self._recent_stage_ms.items() if values}

    def summary(self) -> dict:
        """The figures written by ``--stats``."""
        with self._lock:
            elapsed = ((self._last_output - self._first_capture)
                       if self._first_capture is not None and self._last_output is not None else 0.0)
            return {
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "frames_dropped": self.frames_dropped,
                "frames_without_face": self.frames_without_face,
                "fps": round(self.frames_out / elapsed, 3) if elapsed > 0 else 0.0,
                "latency_ms": percentiles(self._latency_ms.values),
                "stages_ms": {stage: percentiles(values.values, (50, 95))
                              for stage, values in self._stage_ms.items()},
            }

    def write_json(self, path: Path, extra: dict | None = None) -> dict:
        """Write :meth:`summary` (plus ``extra``) to ``path`` and return it."""
        summary = {**self.summary(), **(extra or {})}
        write_json(Path(path), summary)
        return summary


class RecordingStats(RunStats):
    """:class:`RunStats` that also keeps every event with its time (thread-safe appends)."""

    def __init__(self):
        super().__init__()
        self.stage_events: list[tuple[float, str, float]] = []  # (time, stage, ms)
        self.outputs: list[tuple[float, float, bool]] = []  # (time, capture-to-output ms, has face)
        self.capture_times: list[float] = []
        self.drop_times: list[float] = []

    def add_stage(self, stage: str, milliseconds: float) -> None:
        super().add_stage(stage, milliseconds)
        self.stage_events.append((time.perf_counter(), stage, milliseconds))

    def count_in(self, capture_time: float) -> None:
        super().count_in(capture_time)
        self.capture_times.append(capture_time)

    def count_dropped(self, count: int = 1) -> None:
        super().count_dropped(count)
        self.drop_times.extend([time.perf_counter()] * count)

    def count_out(self, capture_time: float, has_face: bool) -> None:
        now = time.perf_counter()
        super().count_out(capture_time, has_face)
        self.outputs.append((now, (now - capture_time) * 1000.0, has_face))
