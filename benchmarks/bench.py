"""``reenact bench``: frame rate, latency, memory and CPU of the live loop, and what it could run.

One run measures, in this order: the real live loop (:mod:`benchmarks.live_run`) over
``--frames`` output frames after ``--warmup`` (a file is replayed as a simulated camera
with latest-frame hand-off; see that module); then generator variants side by side on
identical sketches (:mod:`benchmarks.variant_timing`; the variant files are built once
in a TensorFlow child process by :mod:`benchmarks.generators`); then each Numba kernel
against its numpy twin (:mod:`benchmarks.kernels`). The loop runs first, so that its
peak memory holds nothing but the loop. It prints a table and optionally writes the
JSON report and a plot. This process never imports TensorFlow.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks import kernels as kernel_bench
from benchmarks.generators import SCALES, ensure_variants
from benchmarks.landmarks import TARGET_SPEEDUP as TARGET_LANDMARK_SPEEDUP
from benchmarks.landmarks import compare_landmarkers
from benchmarks.live_run import LiveBenchOptions, measure_live
from benchmarks.variant_timing import Variant, driver_faces, reference_speedup, time_variants
from media.camera_feed import open_feed
from models.files import write_json
from models.generator_contract import load_generator_file
from models.options import require

REPORT_VERSION = 1
# The targets for the shipped model at 256 x 256 over 600 frames of a real driver (docs/speed.md).
TARGET_FPS = 30.0
TARGET_LATENCY_P95_MS = 50.0
TARGET_SPEEDUP = 20.0
TARGET_PEAK_RSS_MB = 1024.0
TARGET_WATERMARK_MS = 3.0  # the invisible mark's share of a frame, p95
# From a 60 fps camera, the loop should keep up with it (docs/speed.md).
TARGET_FPS_AT_60 = 55.0
TARGET_LATENCY_P95_AT_60_MS = 33.0
LANDMARK_FRAMES = 300  # frames of the source both landmark stages time
# int8 convolutions are several times faster than float only with VNNI or AMX.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


@dataclass(frozen=True)
class BenchConfig:
    """Everything ``reenact bench`` was asked to measure (built by the CLI)."""

    live: LiveBenchOptions
    variants: str = "full"  # generator variants to time: "full", "small" or "none"
    variant_dir: Path | None = None  # where built variants are kept (default: the cache)
    invokes: int = 50  # timed invokes of each variant
    kernel_repeats: int = 300  # timed calls of each Numba kernel and its twin; 0 skips them
    json_path: Path | None = None
    plot_path: Path | None = None

    def __post_init__(self):
        require(self.variants in (*SCALES, "none"), f"variants {self.variants!r}",
                f"one of {', '.join((*SCALES, 'none'))}")
        require(self.invokes >= 1, f"--invokes {self.invokes}", "1 or more")
        require(self.kernel_repeats >= 0, f"--kernel-repeats {self.kernel_repeats}", "0 or more")


def machine() -> dict:
    """Cores, CPU model, the vector features int8 speed hangs on, and load: a figure means little without them."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():  # the first processor's fields
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    return {"cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False), "cpu_model": model,
            "cpu_features": [feature for feature in CPU_FEATURES if feature in flags],
            "load_average": [round(value, 2) for value in os.getloadavg()], "python": platform.python_version()}


def targets(report: dict) -> list[dict]:
    """The targets against this run's figures (a report, never a test)."""
    rows = [("end-to-end fps", report["fps"], f">= {TARGET_FPS:g}", report["fps"] >= TARGET_FPS),
            ("latency p95 ms", report["latency_ms"]["p95"], f"<= {TARGET_LATENCY_P95_MS:g}",
             report["latency_ms"]["p95"] <= TARGET_LATENCY_P95_MS),
            ("peak RSS MB", report["peak_rss_mb"], f"< {TARGET_PEAK_RSS_MB:g}",
             report["peak_rss_mb"] < TARGET_PEAK_RSS_MB)]
    if report["feed"]["camera_fps"] >= 60:
        rows += [("fps from a 60 fps camera", report["fps"], f">= {TARGET_FPS_AT_60:g}",
                  report["fps"] >= TARGET_FPS_AT_60),
                 ("latency p95 ms from a 60 fps camera", report["latency_ms"]["p95"],
                  f"<= {TARGET_LATENCY_P95_AT_60_MS:g}", report["latency_ms"]["p95"] <= TARGET_LATENCY_P95_AT_60_MS)]
    mark = report["stages_ms"].get("watermark")
    if mark is not None:
        rows.append(("watermark p95 ms", mark["p95"], f"<= {TARGET_WATERMARK_MS:g}",
                     mark["p95"] <= TARGET_WATERMARK_MS))
    if report.get("landmark_speedup") is not None:
        rows.append(("landmark speed-up", report["landmark_speedup"], f">= {TARGET_LANDMARK_SPEEDUP:g}",
                     report["landmark_speedup"] >= TARGET_LANDMARK_SPEEDUP))
    if report.get("reference_speedup") is not None:
        rows.append(("reference speed-up", report["reference_speedup"], f">= {TARGET_SPEEDUP:g}",
                     report["reference_speedup"] >= TARGET_SPEEDUP))
    return [{"name": name, "value": value, "target": target, "met": met} for name, value, target, met in rows]


def _variants_to_time(config: BenchConfig) -> list[Variant]:
    model = config.live.model_path
    shipped = [Variant(f"shipped: {model.name}", "shipped", model)]
    if config.variants == "none":
        return shipped
    built = ensure_variants(model, config.variants, config.variant_dir)
    return shipped + [Variant(spec.name, spec.role, path) for spec, path in built.items()]


def print_report(report: dict, out=sys.stdout) -> None:
    """The human-readable table."""
    frames, latency = report["frames"], report["latency_ms"]

    def line(text: str = "") -> None:
        print(text, file=out)

    line(f"reenact bench: {report['feed']['name']}; model {report['model']} ({report['model_quantization']}); "
         f"{report['threads']} generator threads")
    line(f"  {frames['measured']} frames after {frames['warmup']} warm-up: {report['fps']:.1f} fps, latency "
         f"p50 {latency['p50']:.1f} p95 {latency['p95']:.1f} p99 {latency['p99']:.1f} ms; "
         f"{frames['dropped']} of {frames['captured']} camera frames dropped, {frames['without_face']} without a face")
    line(f"  peak RSS {report['peak_rss_mb']:.0f} MB, CPU {report['cpu_percent']:.0f}% of one core; "
         f"{report['machine']['cores']} cores ({report['machine']['cpu_model']}; "
         f"{' '.join(report['machine']['cpu_features']) or 'no AVX2'}), "
         f"load average {report['machine']['load_average'][0]:.2f}")
    line(f"  {'stage':<12}{'p50':>8}{'p95':>8}{'p99':>8}  ms")
    for stage, values in report["stages_ms"].items():
        line(f"  {stage:<12}{values['p50']:8.2f}{values['p95']:8.2f}{values['p99']:8.2f}")
    if report["variants"]:
        line(f"  generator variants, LiteRT {report['threads']} threads, interleaved, "
             f"{report['variants'][0]['invokes']} invokes each:")
        line(f"  {'variant':<58}{'p50':>9}{'p95':>9}{'MB':>7}")
        for row in report["variants"]:
            line(f"  {row['name']:<58}{row['generator_ms']['p50']:9.2f}{row['generator_ms']['p95']:9.2f}"
                 f"{row['file_mb']:7.1f}")
    if report["reference_speedup"] is not None:
        line(f"  reference speed-up (reference p50 / shipped p50): {report['reference_speedup']:g}x")
    if report.get("landmarks") and report["landmark_speedup"] is not None:
        marks = report["landmarks"]
        deviation = marks["deviation_iod"] or {"mean": float("nan")}
        line(f"  landmark stages on the same {marks['frames']} frames: Tasks API p50 {marks['tasks_ms']['p50']:.2f} "
             f"ms, LiteRT tracking p50 {marks['litert_ms']['p50']:.2f} ms: {marks['landmark_speedup']:.2f}x; "
             f"points {100 * deviation['mean']:.3f}% of the inter-ocular distance apart")
    if report["kernels"]:
        line(f"  {'kernel':<28}{'numba p50':>10}{'twin p50':>10}{'speed-up':>9}  us")
        for row in report["kernels"]:
            line(f"  {row['kernel']:<28}{row['numba_us']['p50']:10.1f}{row['twin_us']['p50']:10.1f}"
                 f"{row['speedup']:8.1f}x")
    for row in report["targets"]:
        line(f"  target {row['name']} {row['target']}: {row['value']} -> {'met' if row['met'] else 'NOT met'}")


def run_bench(config: BenchConfig) -> dict:
    """Measure as configured: print the table, write the JSON and plot asked for, return the report."""
    options = config.live
    _, metadata = load_generator_file(options.model_path)  # a bad model fails here, before anything slow
    feed = open_feed(options.source, options.camera_fps)  # so does a bad source
    with feed:
        variants = _variants_to_time(config)  # built before the loop, never during it
        live = measure_live(options, feed)
    machine_now = machine()  # the load average just after the loop: how busy the machine was
    replayable = not options.source.isdigit()  # a camera's frames cannot be had again
    # Both landmark stages on the same frames, one after the other.
    landmarks = compare_landmarkers(options.source, LANDMARK_FRAMES)["report"] if replayable else None
    faces = driver_faces(options.source, metadata) if replayable else [metadata.neutral]
    variant_rows = time_variants(variants, faces, metadata.input_size, config.invokes, options.num_threads)
    report = {
        "report_version": REPORT_VERSION,
        "source": options.source,
        "model": str(options.model_path),
        "model_quantization": metadata.quantization,
        **live,
        "machine": machine_now,
        "variants": variant_rows,
        "reference_speedup": reference_speedup(variant_rows),
        "landmarks": landmarks,
        "landmark_speedup": landmarks["landmark_speedup"] if landmarks else None,
        "kernels": kernel_bench.run(config.kernel_repeats) if config.kernel_repeats else [],
        "tensorflow_imported": sys.modules.get("tensorflow") is not None,
    }
    report["targets"] = targets(report)
    print_report(report)
    if config.json_path is not None:
        write_json(config.json_path, report)
    if config.plot_path is not None:
        from benchmarks.plot import plot_report  # matplotlib only when a plot is asked for

        plot_report(report, config.plot_path)
    return report
