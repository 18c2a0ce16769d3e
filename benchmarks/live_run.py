"""The real live loop, measured as a person at a camera would feel it.

:func:`measure_live` calls :func:`realtime.pipeline.run_live` (the same stages, threads
and hand-offs as ``reenact live``) with no window and no pacing of files, and keeps each
frame's figures so that the warm-up can be left out and the run plotted.

How frames are fed matters for latency. Read as a file, a clip is queued in order and a
reader that runs ahead makes every frame wait behind others: that is queueing, not what a
camera user sees. So a file (or ``sample``) is replayed as a *simulated camera*
(:class:`media.camera_feed.CameraFeed`): a live source that delivers the clip's next frame every
1/``camera_fps`` seconds, stamped with the time it was delivered, looping the clip as a
camera never ends. ``run_live`` then treats it exactly as a webcam: a one-slot mailbox
that keeps the latest frame only, frames the loop was too busy to take dropped and
counted. Latency runs from that delivery to the frame's hand-off to the sinks, so it
includes how long a frame waited for the loop (at most one camera period), as with a
real camera; the camera's own exposure and transfer time cannot be seen from here.
``camera_fps`` 0 delivers frames as fast as they decode (no pacing at all), which costs
a core's worth of decoding on a 2-core machine. A real camera index is used as it is.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from media.camera_feed import DEFAULT_CAMERA_FPS, CameraFeed, open_feed
from media.sources import FrameSource
from models.errors import UserError
from models.options import require
from realtime.capture import CaptureOptions
from realtime.generator_runner import DEFAULT_THREADS
from realtime.motion_transfer import MotionOptions
from realtime.pipeline import LiveConfig, run_live
from realtime.sinks import Controls, Sink
from realtime.stages import PipelineOptions
from realtime.stats import RecordingStats, percentiles

SAMPLE_INTERVAL_S = 0.02  # how often memory and CPU time are sampled


@dataclass(frozen=True)
class LiveBenchOptions:
    """What :func:`measure_live` runs."""

    source: str
    model_path: Path
    frames: int = 600  # measured output frames
    warmup: int = 30  # output frames before the measurement starts
    camera_fps: float = DEFAULT_CAMERA_FPS  # a file's simulated camera; 0: as fast as frames decode
    num_threads: int = DEFAULT_THREADS
    stale_after: float | None = CaptureOptions.stale_after  # see CaptureThread.next_frame
    overlap: bool = PipelineOptions.overlap  # see PipelineOptions.overlap
    landmarker: str = PipelineOptions.landmarker  # see PipelineOptions.landmarker
    mode: str = "reenact"  # or "swap", as reenact live --mode
    follow_mouth: bool = PipelineOptions.follow_mouth  # see PipelineOptions.follow_mouth (swap mode)
    motion: MotionOptions = MotionOptions()  # see PipelineOptions.motion (re-enactment)
    enhancer_path: Path | None = None  # see LiveConfig.enhancer_path

    def __post_init__(self):
        require(self.frames >= 1 and self.warmup >= 1, f"{self.frames} frames after {self.warmup} warm-up frames",
                "at least 1 of each (the last warm-up frame opens the measured window)")
        require(self.camera_fps >= 0, f"camera rate {self.camera_fps} fps", "0 (unpaced) or more")
        require(self.num_threads >= 1, f"--threads {self.num_threads}", "1 or more")


@dataclass(frozen=True)
class Mark:
    """A moment of the run: wall clock and this process's CPU time, both in seconds."""

    time: float
    cpu: float

    @classmethod
    def now(cls, process: psutil.Process) -> "Mark":
        times = process.cpu_times()
        return cls(time.perf_counter(), times.user + times.system)


class MeterSink(Sink):
    """The bench's only output: shows nothing, marks the measured window, then stops the loop."""

    name = "bench meter"

    def __init__(self, warmup: int, frames: int, controls: Controls):
        self.warmup, self.frames, self.controls = warmup, frames, controls
        self.delivered = 0
        self.start: Mark | None = None
        self.end: Mark | None = None
        self._process = psutil.Process()

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        self.delivered += 1
        if self.delivered == self.warmup:
            self.start = Mark.now(self._process)
        elif self.delivered == self.warmup + self.frames:
            self.end = Mark.now(self._process)
            self.controls.stop.set()


class ResourceSampler:
    """Samples this process's resident memory in a daemon thread while in its ``with`` block."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S):
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []  # (time, RSS bytes)
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource sampler", daemon=True)

    def __enter__(self) -> "ResourceSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append((time.perf_counter(), self._process.memory_info().rss))
            if self._stop.wait(self.interval_s):
                return


def _megabytes(value_bytes: float) -> float:
    return round(value_bytes / 2**20, 1)


def measure_live(options: LiveBenchOptions, feed: FrameSource | None = None, extra_sinks: tuple[Sink, ...] = ()
                 ) -> dict:
    """Run the live loop for ``warmup + frames`` output frames; the figures of the last ``frames``.

    ``feed`` is the opened source (from :func:`open_feed`); by default one is opened here.
    ``extra_sinks`` get every frame too (the studio's preview, to measure what it costs).
    """
    feed = feed if feed is not None else open_feed(options.source, options.camera_fps)
    controls = Controls("target")
    meter = MeterSink(options.warmup, options.frames, controls)
    recorder = RecordingStats()
    config = LiveConfig(source=options.source, model_path=Path(options.model_path), outputs=(),
                        num_threads=options.num_threads,
                        capture=CaptureOptions(pace=False, stale_after=options.stale_after),
                        pipeline=PipelineOptions(overlap=options.overlap, landmarker=options.landmarker,
                                                 follow_mouth=options.follow_mouth, motion=options.motion),
                        mode=options.mode, enhancer_path=options.enhancer_path)
    rss_before = psutil.Process().memory_info().rss
    with ResourceSampler() as sampler:
        summary = run_live(config, sinks=[meter, *extra_sinks], source=feed, controls=controls, stats=recorder)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kilobytes
    if meter.start is None or meter.end is None:
        raise UserError(f"the live loop stopped ({summary['stopped_by']}) after {meter.delivered} frames, "
                        f"expected {options.warmup + options.frames}")
    return _window_figures(options, feed, recorder, meter.start, meter.end,
                           rss_before, max(max_rss, max(rss for _, rss in sampler.samples)), sampler.samples)


def _window_figures(options: LiveBenchOptions, feed: FrameSource, recorder: RecordingStats, start: Mark, end: Mark,
                    rss_before: int, peak_rss: int, rss_samples: list[tuple[float, int]]) -> dict:
    """The measured window's figures: outputs after the warm-up's last frame, up to the last one."""
    wall = end.time - start.time

    def inside(moment: float) -> bool:
        return start.time < moment <= end.time

    outputs = recorder.outputs[options.warmup:options.warmup + options.frames]
    latencies = [latency for _, latency, _ in outputs]
    # Stages in the order they first ran (pipeline order), though the window opens mid-frame.
    stage_samples: dict[str, list[float]] = {stage: [] for _, stage, _ in recorder.stage_events}
    for moment, stage, milliseconds in recorder.stage_events:
        if inside(moment):
            stage_samples[stage].append(milliseconds)
    return {
        "feed": _feed_description(feed),
        "frames": {
            "warmup": options.warmup,
            "measured": len(outputs),
            "captured": sum(inside(moment) for moment in recorder.capture_times),
            "dropped": sum(inside(moment) for moment in recorder.drop_times),
            "without_face": sum(not has_face for _, _, has_face in outputs),
            "clip_loops": getattr(feed, "loops", 0),
        },
        "fps": round(options.frames / wall, 2),
        "latency_ms": percentiles(latencies),
        "stages_ms": {stage: percentiles(values) for stage, values in stage_samples.items() if values},
        "peak_rss_mb": _megabytes(peak_rss),
        "memory_mb": {"before_loop": _megabytes(rss_before), "peak": _megabytes(peak_rss),
                      "sampled_every_s": SAMPLE_INTERVAL_S},
        "cpu_percent": round(100.0 * (end.cpu - start.cpu) / wall, 1),
        "threads": options.num_threads,
        "stale_after": options.stale_after,
        "overlap": options.overlap,
        "landmarker": options.landmarker,
        "follow_mouth": options.follow_mouth,
        "pose_gain": options.motion.pose_gain,
        "expression_gain": options.motion.expression_gain,
        "timeline": {
            "output_s": [round(moment - start.time, 4) for moment, _, _ in outputs],
            "latency_ms": [round(latency, 2) for latency in latencies],
            "drop_s": [round(moment - start.time, 4) for moment in recorder.drop_times if inside(moment)],
            "rss_s": [round(moment - start.time, 3) for moment, _ in rss_samples],
            "rss_mb": [_megabytes(rss) for _, rss in rss_samples],
        },
    }


def _feed_description(feed: FrameSource) -> dict:
    if isinstance(feed, CameraFeed):
        pacing = f"a frame every 1/{feed.camera_fps:g} s" if feed.camera_fps else "frames as fast as they decode"
        return {"name": feed.name, "camera_fps": feed.camera_fps,
                "semantics": f"simulated camera ({pacing}, the clip looped): latest-frame mailbox, as run_live "
                             "treats a webcam; frames the loop was busy for are dropped and counted; latency "
                             "runs from delivery to the sinks"}
    return {"name": feed.name, "camera_fps": feed.fps,
            "semantics": "a real camera: latest-frame mailbox, drops counted; latency from capture to the sinks"}
