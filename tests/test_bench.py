"""``reenact bench``: the report's shape and sense, the plot, the camera feed, clear errors.

No test here asserts a timing: the figures depend on the machine and its load. The end
to end test runs the real command in a child process over a few frames with a tiny model
and small variant stand-ins, which are built in that child's own TensorFlow subprocess.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.generators import standard_variants
from benchmarks.live_run import CameraFeed
from benchmarks.variant_timing import reference_speedup
from models.generator_contract import read_metadata
from reenact.cli import main
from realtime.sources import Frame, FrameSource
from tests.tiny_generator import tiny_generators  # noqa: F401 - a fixture

REPOSITORY = Path(__file__).resolve().parents[1]
STAGES = ("landmarks", "smooth", "retarget", "sketch", "generator", "post", "label", "watermark", "sinks")


def _bench(*args, timeout=900):
    """``reenact bench ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "reenact.cli", "bench", *map(str, args)], cwd=REPOSITORY,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY)})


def _assert_ordered(figures: dict, keys=("p50", "p95", "p99")):
    values = [figures[key] for key in keys]
    assert values == sorted(values) and values[0] >= 0, figures


@pytest.fixture(scope="module")
def small_report(tiny_generators, tmp_path_factory):  # noqa: F811 - the fixture imported above
    """One short bench run on the built-in sample with the tiny int8 model and small variants."""
    out = tmp_path_factory.mktemp("bench")
    result = _bench("--source", "sample", "--model", tiny_generators["int8"], "--frames", 20, "--warmup", 3,
                    "--variants", "small", "--variant-dir", out / "variants", "--invokes", 3,
                    "--kernel-repeats", 5, "--json", out / "bench.json", "--plot", out / "bench.png")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "bench.json").read_text()), out / "bench.png", result.stdout


def test_the_report_holds_every_required_figure(small_report):
    report, _, _ = small_report
    for key in ("fps", "latency_ms", "stages_ms", "peak_rss_mb", "cpu_percent", "machine", "variants", "kernels",
                "reference_speedup", "frames", "feed", "timeline", "targets"):
        assert key in report, key
    assert report["fps"] > 0
    assert 0 < report["peak_rss_mb"] < 24 * 1024
    assert report["cpu_percent"] > 0
    assert report["machine"]["cores"] == os.cpu_count() and report["machine"]["cpu_model"]
    assert report["tensorflow_imported"] is False


def test_latency_and_every_stage_have_ordered_percentiles(small_report):
    report, _, _ = small_report
    _assert_ordered(report["latency_ms"])
    stages = set(report["stages_ms"])
    assert stages <= set(STAGES) and {"landmarks", "post", "label", "watermark", "sinks"} <= stages
    for figures in report["stages_ms"].values():
        _assert_ordered(figures)


def test_frame_counts_add_up(small_report):
    report, _, _ = small_report
    frames = report["frames"]
    assert frames["measured"] == 20 and frames["warmup"] == 3
    assert 0 <= frames["dropped"] <= frames["captured"]
    assert 0 <= frames["without_face"] <= frames["measured"]
    assert len(report["timeline"]["latency_ms"]) == frames["measured"]
    assert report["timeline"]["output_s"] == sorted(report["timeline"]["output_s"])
    assert "latest-frame" in report["feed"]["semantics"]


def test_variants_are_timed_beside_the_shipped_model(small_report, tiny_generators):  # noqa: F811
    report, _, _ = small_report
    roles = [row["role"] for row in report["variants"]]
    assert roles[0] == "shipped" and "reference" in roles and "candidate" in roles
    assert any("low-resolution" in row["name"] for row in report["variants"])
    for row in report["variants"]:
        _assert_ordered(row["generator_ms"], ("p50", "p95"))
        assert row["invokes"] == 3 and row["generator_ms"]["p50"] > 0
    assert report["reference_speedup"] == reference_speedup(report["variants"]) > 0
    assert {row["kernel"] for row in report["kernels"]} >= {"dim", "one_euro 478x3"}


def test_the_plot_is_a_png_that_decodes(small_report):
    _, plot_path, stdout = small_report
    image = cv2.imread(str(plot_path))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 400
    assert "fps" in stdout and "generator" in stdout


def test_a_shared_driver_clip_runs_as_a_camera(shared_data, tiny_generators, tmp_path):  # noqa: F811
    result = _bench("--source", shared_data / "drivers" / "expressions_7s.mp4", "--model", tiny_generators["fp32"],
                    "--frames", 15, "--warmup", 3, "--variants", "none", "--invokes", 2, "--kernel-repeats", 0,
                    "--camera-fps", 30, "--json", tmp_path / "bench.json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["frames"]["measured"] == 15 and report["frames"]["without_face"] == 0
    assert report["feed"]["camera_fps"] == 30
    assert [row["role"] for row in report["variants"]] == ["shipped"] and report["reference_speedup"] is None


@pytest.mark.parametrize("source", ["no/such/clip.mp4", "", "*.nothing-matches"])
def test_a_bad_source_is_a_one_line_error(tiny_generators, capsys, source):  # noqa: F811
    code = main(["bench", "--source", source, "--model", str(tiny_generators["int8"]), "--variants", "none"])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and error.startswith("reenact bench: error: source")


@pytest.mark.parametrize("argument", [["--frames", "0"], ["--warmup", "0"], ["--threads", "0"],
                                      ["--camera-fps", "-1"], ["--model", "no/such/model.tflite"]])
def test_bad_arguments_are_one_line_errors(tiny_generators, capsys, argument):  # noqa: F811
    arguments = ["bench", "--source", "sample", "--model", str(tiny_generators["int8"]), *argument]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("reenact bench: error:")


class _Clip(FrameSource):
    """A three-frame clip in memory."""

    def __init__(self):
        self.name, self.fps, self._index = "three frames", 30.0, 0

    def read(self):
        if self._index >= 3:
            return None
        self._index += 1
        return Frame(self._index - 1, 0.0, time.perf_counter(), np.full((8, 8, 3), self._index, np.uint8))


def test_the_camera_feed_loops_the_clip_and_stamps_each_delivery():
    feed = CameraFeed(_Clip(), _Clip, fps=500.0)
    frames = [feed.read() for _ in range(8)]
    assert feed.is_live and feed.loops == 2
    assert [frame.index for frame in frames] == list(range(8))
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [1, 2, 3, 1, 2, 3, 1, 2]
    stamps = [frame.capture_time for frame in frames]
    assert stamps == sorted(stamps)
    assert [frame.timestamp_ms for frame in frames] == sorted(frame.timestamp_ms for frame in frames)


def test_the_standard_variants_follow_the_shipped_architecture(tiny_generators):  # noqa: F811
    metadata = read_metadata(Path(tiny_generators["int8"]).read_bytes())
    assert not [spec for spec in standard_variants(metadata) if spec.role == "shipped architecture"]
    shipped = replace(metadata, architecture={"size": 256, "width": 32, "depth": 8, "upsample": "resize"})
    specs = standard_variants(shipped)
    reference = specs[0]
    assert (reference.role, reference.size, reference.width, reference.decoder, reference.quantization) == (
        "reference", 256, 64, "transpose", "fp32")
    same = [spec for spec in specs if spec.role == "shipped architecture"]
    assert [(spec.width, spec.decoder, spec.quantization) for spec in same] == [
        (32, "resize", "fp32"), (32, "resize", "fp16"), (32, "resize", "int8")]
    assert len({spec.file_name for spec in specs}) == len(specs)
    assert [spec.file_name for spec in standard_variants(shipped)] == [spec.file_name for spec in specs]
    assert all(spec.size == 32 for spec in standard_variants(shipped, "small"))


def test_the_speed_quality_plot_marks_each_model_and_the_budget(tmp_path):
    from benchmarks.speed_quality import plot

    report = {"reference_ms": {"p50": 200.0, "p95": 220.0}, "points": [
        {"label": "w16 resize int8", "generator_ms": {"p50": 14.0, "p95": 16.0}, "psnr": 30.9, "ssim": 0.897,
         "mouth_open_mae": 0.006},
        {"label": "w16 separable int8", "generator_ms": {"p50": 8.0, "p95": 9.0}, "psnr": 30.1, "ssim": 0.854,
         "mouth_open_mae": 0.008}]}
    out = tmp_path / "curve.png"
    plot(report, out)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 300
    # The 20x budget line is drawn in red: some pixels are strongly red.
    blue, green, red = (image[..., channel].astype(int) for channel in range(3))
    assert np.count_nonzero((red > 180) & (green < 100) & (blue < 100)) > 50


def test_the_speed_quality_curve_refuses_a_missing_model(tmp_path, capsys):
    from benchmarks.speed_quality import main as speed_quality

    assert speed_quality([str(tmp_path / "none.tflite"), "--data", str(tmp_path)]) == 2
    assert "none.tflite not found" in capsys.readouterr().err
