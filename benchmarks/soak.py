"""``reenact bench --minutes M``: the live loop for M minutes; does its memory grow, does it slow down?

A leak of a few kilobytes a frame, or a cache that never stops filling, does not show in a
600-frame benchmark; it shows after an hour of a video call. The soak runs the real loop
(:func:`realtime.pipeline.run_live`, as ``reenact live``) on a file replayed as a simulated
camera, looping the clip for as long as asked, and samples this process's resident memory
and the frames delivered every :data:`SAMPLE_INTERVAL_S` seconds.

Reported: ``rss_growth_mb`` (the last sample minus the first one after the warm-up, the
first tenth of the run but at most a minute: allocators and caches fill up first), and the
frame rate of the first and last tenths of the run (``fps_first_tenth``, ``fps_last_tenth``,
``fps_change``: their relative difference). Targets: growth at most 20 MB, change within 5%.
Per-second frame counts are kept in a fixed-size array, so the soak itself adds no memory
that grows with its length. The loop's own statistics do, by design, until their reservoirs
are full: 100,000 timings a series, about 10 MB for all of them, reached after 55 minutes
at 30 fps; that is in ``rss_growth_mb``. The first tenth's frame rate includes the warm-up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from media.camera_feed import DEFAULT_CAMERA_FPS, open_feed
from models.files import write_json
from models.options import require
from realtime.capture import CaptureOptions
from realtime.generator_runner import DEFAULT_THREADS
from realtime.pipeline import LiveConfig, run_live
from realtime.sinks import Controls, Sink
from realtime.stages import PipelineOptions
from realtime.stats import RunStats

SAMPLE_INTERVAL_S = 10.0
MAX_WARMUP_S = 60.0
TARGET_RSS_GROWTH_MB = 20.0
TARGET_FPS_CHANGE = 0.05


@dataclass(frozen=True)
class SoakOptions:
    """What :func:`run_soak` runs."""

    source: str
    model_path: Path
    minutes: float
    camera_fps: float = DEFAULT_CAMERA_FPS
    num_threads: int = DEFAULT_THREADS
    interval_s: float = SAMPLE_INTERVAL_S
    landmarker: str = PipelineOptions.landmarker
    overlap: bool = PipelineOptions.overlap
    mode: str = LiveConfig.mode  # "swap": the face-swap loop, with a swap model
    enhancer_path: Path | None = None  # see LiveConfig.enhancer_path

    def __post_init__(self):
        require(0 < self.minutes <= 24 * 60, f"--minutes {self.minutes:g}", "more than 0, at most a day (1440)")
        require(self.interval_s > 0, f"a sampling interval of {self.interval_s:g} s", "more than 0 s")
        require(self.camera_fps >= 0, f"camera rate {self.camera_fps} fps", "0 (unpaced) or more")
        require(self.num_threads >= 1, f"--threads {self.num_threads}", "1 or more")


class CountingSink(Sink):
    """Counts delivered frames per second of the run in a fixed array; stops the loop at the deadline."""

    name = "soak counter"

    def __init__(self, seconds: float, controls: Controls):
        self.seconds = seconds
        self.controls = controls
        self.per_second = np.zeros(int(np.ceil(seconds)) + 1, np.int64)
        self.start: float | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start = now
        elapsed = now - self.start
        if elapsed >= self.seconds:
            self.controls.stop.set()
            return
        self.per_second[int(elapsed)] += 1


def _sample_until(stop: threading.Event, sink: CountingSink, interval_s: float, samples: list) -> None:
    process = psutil.Process()
    while not stop.wait(interval_s):
        if sink.start is not None:
            samples.append((time.perf_counter() - sink.start, process.memory_info().rss / 2**20,
                            int(sink.per_second.sum())))


def _fps(per_second: np.ndarray, first: int, last: int) -> float:
    return float(per_second[first:last].sum() / max(last - first, 1))


def run_soak(options: SoakOptions, json_path: Path | None = None, plot_path: Path | None = None) -> dict:
    """Run the loop for ``options.minutes``; print, write and return the report."""
    seconds = options.minutes * 60.0
    controls = Controls("target")
    sink = CountingSink(seconds, controls)
    config = LiveConfig(source=options.source, model_path=Path(options.model_path), outputs=(),
                        num_threads=options.num_threads, capture=CaptureOptions(pace=False), mode=options.mode,
                        pipeline=PipelineOptions(landmarker=options.landmarker, overlap=options.overlap),
                        enhancer_path=options.enhancer_path)
    samples: list[tuple[float, float, int]] = []  # (seconds into the run, RSS MB, frames so far)
    done = threading.Event()
    sampler = threading.Thread(target=_sample_until, args=(done, sink, options.interval_s, samples),
                               name="soak sampler", daemon=True)
    feed = open_feed(options.source, options.camera_fps)
    sampler.start()
    try:
        with feed:
            summary = run_live(config, sinks=[sink], source=feed, controls=controls, stats=RunStats())
    finally:
        done.set()
        sampler.join()
    report = soak_report(options, sink.per_second, samples, summary, getattr(feed, "loops", 0))
    print_soak(report)
    if json_path is not None:
        write_json(json_path, report)
    if plot_path is not None:
        plot_soak(report, plot_path)
    return report


def soak_report(options: SoakOptions, per_second: np.ndarray, samples: list, summary: dict, loops: int) -> dict:
    """The figures of a soak from its per-second frame counts and its (time, RSS, frames) samples."""
    seconds = int(options.minutes * 60.0)
    tenth = max(1, seconds // 10)
    warmup_s = min(MAX_WARMUP_S, seconds / 10)
    after_warmup = [rss for moment, rss, _ in samples if moment >= warmup_s]
    growth = round(after_warmup[-1] - after_warmup[0], 1) if len(after_warmup) >= 2 else None  # too short
    first, last = _fps(per_second, 0, tenth), _fps(per_second, seconds - tenth, seconds)
    change = round((last - first) / first, 4) if first > 0 else None
    return {
        "source": options.source, "model": str(options.model_path), "mode": options.mode, "minutes": options.minutes,
        "camera_fps": options.camera_fps, "clip_loops": loops, "landmarker": options.landmarker,
        "frames": int(per_second.sum()), "fps": round(float(per_second[:seconds].sum()) / max(seconds, 1), 2),
        "warmup_s": round(warmup_s, 1),
        "rss_growth_mb": growth, "rss_after_warmup_mb": round(after_warmup[0], 1) if after_warmup else None,
        "fps_first_tenth": round(first, 2), "fps_last_tenth": round(last, 2), "fps_change": change,
        "latency_ms": summary["latency_ms"],
        "targets": {"rss_growth_mb": TARGET_RSS_GROWTH_MB, "fps_change": TARGET_FPS_CHANGE},
        "met": growth is not None and change is not None and growth <= TARGET_RSS_GROWTH_MB
        and abs(change) <= TARGET_FPS_CHANGE,
        "samples": {"interval_s": options.interval_s, "seconds": [round(m, 1) for m, _, _ in samples],
                    "rss_mb": [round(r, 1) for _, r, _ in samples], "frames": [f for _, _, f in samples]},
    }


def print_soak(report: dict) -> None:
    print(f"soak ({report['mode']}): {report['minutes']:g} min of {report['source']} ({report['clip_loops']} loops): "
          f"{report['frames']} frames, {report['fps']:.1f} fps")
    growth = report["rss_growth_mb"]
    print(f"  rss after warm-up {report['rss_after_warmup_mb']} MB, growth "
          f"{'unknown (run too short to sample twice)' if growth is None else f'{growth} MB'} "
          f"(target <= {TARGET_RSS_GROWTH_MB:g})")
    change = report["fps_change"]
    print(f"  fps first tenth {report['fps_first_tenth']:.2f}, last tenth {report['fps_last_tenth']:.2f}, "
          f"change {'unknown' if change is None else f'{100 * change:+.1f}%'} "
          f"(target within {100 * TARGET_FPS_CHANGE:g}%) -> {'met' if report['met'] else 'NOT met'}")


def plot_soak(report: dict, path: Path) -> None:
    """Resident memory and frame rate over the run, one sample per interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    minutes = np.asarray(samples["seconds"]) / 60.0
    frames = np.asarray(samples["frames"], float)
    fps = np.diff(frames, prepend=0.0) / report["samples"]["interval_s"]
    figure, (memory_axis, fps_axis) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    memory_axis.plot(minutes, samples["rss_mb"], color="tab:blue")
    memory_axis.set_ylabel("resident memory (MB)")
    change = "?" if report["fps_change"] is None else f"{100 * report['fps_change']:+.1f}%"
    memory_axis.set_title(f"reenact live, {report['minutes']:g} minutes: memory grew {report['rss_growth_mb']} MB "
                          f"after warm-up, fps changed {change}")
    fps_axis.plot(minutes, fps, color="tab:green")
    fps_axis.set_ylabel("frames per second")
    fps_axis.set_xlabel("minutes")
    fps_axis.set_ylim(bottom=0)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
