"""``reenact bench`` and the benchmark scripts, through their command lines: reports, plots, clear errors.

No test here asserts a timing: the figures depend on the machine and its load. The end
to end test runs the real command in a child process over a few frames with a tiny model
and small variant stand-ins, which are built in that child's own TensorFlow subprocess.
``python -m benchmarks.generators`` builds the full-size variants once for this module,
into a private cache folder that ``python -m benchmarks.speed_quality`` then times them from.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from media.camera_feed import CameraFeed
from models.default_model import DEFAULT_GENERATOR
from models.generator_contract import read_metadata
from models.landmarker_asset import CACHE_ENV, LANDMARKER_FILENAME, landmarker_path
from reenact.cli import main
from tests.fakes import ListSource

REPOSITORY = Path(__file__).resolve().parents[1]
STAGES = ("landmarks", "smooth", "retarget", "sketch", "motion", "generator", "warp", "enhance", "post", "label",
          "watermark", "sinks")


def _module(module, *args, timeout=900, environment=None):
    """``python -m MODULE ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPOSITORY,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY), **(environment or {})})


def _bench(*args, timeout=900):
    """``reenact bench ARGS`` in a fresh interpreter."""
    return _module("reenact.cli", "bench", *args, timeout=timeout)


def _assert_ordered(figures: dict, keys=("p50", "p95", "p99")):
    values = [figures[key] for key in keys]
    assert values == sorted(values) and values[0] >= 0, figures


@pytest.fixture(scope="module")
def small_report(tiny_generators, tmp_path_factory):
    """One short bench run on the built-in sample with the tiny int8 model and small variants (about 15 s)."""
    out = tmp_path_factory.mktemp("bench")
    result = _bench("--source", "sample", "--model", tiny_generators["int8"], "--frames", 20, "--warmup", 3,
                    "--variants", "small", "--variant-dir", out / "variants", "--invokes", 3,
                    "--kernel-repeats", 5, "--json", out / "bench.json", "--plot", out / "bench.png")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "bench.json").read_text()), out / "bench.png", result.stdout


@pytest.mark.slow
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


@pytest.mark.slow
def test_both_landmark_stages_are_timed_on_the_same_frames(small_report):
    report, _, stdout = small_report
    marks = report["landmarks"]
    assert marks["frames"] == 300 and marks["frames_compared"] == 300  # the sample's every frame, a face in each
    assert marks["detector_runs"] == 1 and marks["found_by_one_only"] == 0
    _assert_ordered(marks["tasks_ms"])
    _assert_ordered(marks["litert_ms"])
    assert report["landmark_speedup"] == round(marks["tasks_ms"]["p50"] / marks["litert_ms"]["p50"], 2)
    assert marks["deviation_iod"]["mean"] <= marks["deviation_iod"]["p95"] <= marks["deviation_iod"]["max"] < 0.01
    assert "landmark speed-up" in [row["name"] for row in report["targets"]] and "LiteRT tracking p50" in stdout
    assert report["landmarker"] == "litert"


@pytest.mark.slow
def test_latency_and_every_stage_have_ordered_percentiles(small_report):
    report, _, _ = small_report
    _assert_ordered(report["latency_ms"])
    stages = set(report["stages_ms"])
    assert stages <= set(STAGES) and {"landmarks", "post", "label", "watermark", "sinks"} <= stages
    for figures in report["stages_ms"].values():
        _assert_ordered(figures)


@pytest.mark.slow
def test_frame_counts_add_up(small_report):
    report, _, _ = small_report
    frames = report["frames"]
    assert frames["measured"] == 20 and frames["warmup"] == 3
    assert 0 <= frames["dropped"] <= frames["captured"]
    assert 0 <= frames["without_face"] <= frames["measured"]
    assert len(report["timeline"]["latency_ms"]) == frames["measured"]
    assert report["timeline"]["output_s"] == sorted(report["timeline"]["output_s"])
    assert "latest-frame" in report["feed"]["semantics"]


@pytest.mark.slow
def test_variants_are_timed_beside_the_shipped_model(small_report, tiny_generators):
    report, _, _ = small_report
    rows = report["variants"]
    roles = [row["role"] for row in rows]
    assert roles[0] == "shipped" and rows[0]["file"] == tiny_generators["int8"].name
    # The tiny model was not made by build_generator: no "same architecture" variants, only
    # the reference and the candidates, all small stand-ins (32 pixels, an eighth of the width).
    assert roles[1:] == ["reference"] + ["candidate"] * 4
    assert rows[1]["name"] == "reference: U-Net w8 transpose 32px fp32"
    assert all(" 32px " in row["name"] for row in rows[1:])
    assert any("low-resolution" in row["name"] for row in rows)
    for row in rows:
        _assert_ordered(row["generator_ms"], ("p50", "p95"))
        assert row["invokes"] == 3 and row["generator_ms"]["p50"] > 0
    # reference p50 over shipped p50, to one decimal, or below 1 to two significant digits
    ratio = rows[1]["generator_ms"]["p50"] / rows[0]["generator_ms"]["p50"]
    assert report["reference_speedup"] == (round(ratio, 1) if ratio >= 1 else float(f"{ratio:.2g}"))
    assert report["reference_speedup"] > 0
    assert {row["kernel"] for row in report["kernels"]} >= {"dim", "one_euro 478x3"}


@pytest.mark.slow
def test_the_plot_is_a_png_that_decodes(small_report):
    _, plot_path, stdout = small_report
    image = cv2.imread(str(plot_path))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 400
    assert "fps" in stdout and "generator" in stdout


def test_a_shared_driver_clip_runs_as_a_camera(shared_data, tiny_generators, tmp_path):
    result = _bench("--source", shared_data / "drivers" / "expressions_7s.mp4", "--model", tiny_generators["fp32"],
                    "--frames", 15, "--warmup", 3, "--variants", "none", "--invokes", 2, "--kernel-repeats", 0,
                    "--camera-fps", 30, "--json", tmp_path / "bench.json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["frames"]["measured"] == 15 and report["frames"]["without_face"] == 0
    assert report["feed"]["camera_fps"] == 30
    assert [row["role"] for row in report["variants"]] == ["shipped"] and report["reference_speedup"] is None


@pytest.mark.parametrize("source", ["no/such/clip.mp4", "", "*.nothing-matches"])
def test_a_bad_source_is_a_one_line_error(tiny_generators, capsys, source):
    code = main(["bench", "--source", source, "--model", str(tiny_generators["int8"]), "--variants", "none"])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and error.startswith("reenact bench: error: source")


@pytest.mark.parametrize("argument", [["--frames", "0"], ["--warmup", "0"], ["--threads", "0"],
                                      ["--camera-fps", "-1"], ["--model", "no/such/model.tflite"]])
def test_bad_arguments_are_one_line_errors(tiny_generators, capsys, argument):
    arguments = ["bench", "--source", "sample", "--model", str(tiny_generators["int8"]), *argument]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("reenact bench: error:")


def test_the_camera_feed_loops_the_clip_and_stamps_each_delivery():
    images = [np.full((8, 8, 3), value, np.uint8) for value in (1, 2, 3)]
    feed = CameraFeed(ListSource(images, name="three frames"), lambda: ListSource(images), fps=500.0)
    frames = [feed.read() for _ in range(8)]
    assert feed.is_live and feed.loops == 2
    assert [frame.index for frame in frames] == list(range(8))
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [1, 2, 3, 1, 2, 3, 1, 2]
    stamps = [frame.capture_time for frame in frames]
    assert stamps == sorted(stamps)
    assert [frame.timestamp_ms for frame in frames] == sorted(frame.timestamp_ms for frame in frames)


# ------------------------------------------------------------------ the full-size variants and the speed-quality curve


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory):
    """A private reenact cache: the landmarker, and the full-size variants of the shipped model in bench_models/.

    Built with ``python -m benchmarks.generators`` (TensorFlow in that child), as
    ``reenact bench`` builds them into the user's cache; returns (cache, its stderr).
    """
    cache = tmp_path_factory.mktemp("cache")
    shutil.copy(landmarker_path(), cache / LANDMARKER_FILENAME)  # no download: the one already verified
    result = _module("benchmarks.generators", "--out", cache / "bench_models", "--like", DEFAULT_GENERATOR,
                     timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return cache, result.stderr


def _variant_specs(folder: Path) -> list[tuple]:
    """(role, size, width, decoder, quantisation) of every variant file in ``folder``, from its metadata."""
    specs = []
    for path in sorted(folder.glob("*.tflite")):
        metadata = read_metadata(path.read_bytes())
        architecture = metadata.architecture
        assert metadata.input_size == architecture["size"], path.name
        specs.append((architecture["role"], architecture["size"], architecture["width"], architecture["decoder"],
                      metadata.quantization))
    return specs


@pytest.mark.slow
def test_the_standard_variants_follow_the_shipped_architecture(bench_cache):
    cache, messages = bench_cache
    shipped = read_metadata(DEFAULT_GENERATOR.read_bytes())
    width, decoder = shipped.architecture["width"], shipped.architecture["upsample"]
    expected = [("reference", 256, 64, "transpose", "fp32")]  # pix2pix's own generator
    expected += [("shipped architecture", shipped.input_size, width, decoder, quantization)
                 for quantization in ("fp32", "fp16", "int8")]
    expected += [("candidate", shipped.input_size, 16, "resize", "int8"),
                 ("candidate", shipped.input_size, 24, "resize", "int8"),
                 ("candidate", shipped.input_size, 16, "low-resolution", "int8"),
                 ("candidate", shipped.input_size, 32, "low-resolution", "int8")]
    assert sorted(_variant_specs(cache / "bench_models")) == sorted(expected)
    assert "built 8 variants" in messages
    for path in (cache / "bench_models").glob("*.tflite"):
        metadata = read_metadata(path.read_bytes())
        # The shipped model's contract, restated for the variant: the live loop's runner takes it unchanged.
        assert (metadata.sketch_version, metadata.margin) == (shipped.sketch_version, shipped.margin)
        np.testing.assert_allclose(metadata.neutral * shipped.input_size / metadata.input_size, shipped.neutral,
                                   atol=0.01)
    # Files are named by what they hold: a second run finds them all and builds nothing.
    again = _module("benchmarks.generators", "--out", cache / "bench_models", "--like", DEFAULT_GENERATOR)
    assert again.returncode == 0 and "built 0 variants" in again.stderr, again.stderr[-3000:]


@pytest.fixture(scope="module")
def sample_data_256(sample_video, tmp_path_factory):
    """The sample clip prepared at the tiny generators' size (256 pixels), every 5th frame."""
    out = tmp_path_factory.mktemp("sample_data") / "data"
    assert main(["prepare", str(sample_video), "--out", str(out), "--every", "5"]) == 0
    return out


def _speed_quality(*args, cache=None):
    """``python -m benchmarks.speed_quality ARGS``, with ``cache`` as the reenact cache when given."""
    return _module("benchmarks.speed_quality", *args, environment={CACHE_ENV: str(cache)} if cache else None)


@pytest.mark.slow
def test_the_speed_quality_curve_times_evaluates_and_plots_each_model(bench_cache, tiny_generators,
                                                                       sample_data_256, tmp_path):
    cache, _ = bench_cache
    out = tmp_path / "curve"
    result = _speed_quality(tiny_generators["fp32"], tiny_generators["int8"], "--data", sample_data_256,
                            "--label", "tiny fp32", "--label", "tiny int8", "--invokes", 3, "--out", out,
                            cache=cache)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "speed_quality.json").read_text())
    assert report["data"] == str(sample_data_256) and report["reference_ms"]["p50"] > 0
    _assert_ordered(report["reference_ms"], ("p50", "p95"))
    assert [point["label"] for point in report["points"]] == ["tiny fp32", "tiny int8"]
    assert [point["model"] for point in report["points"]] == [str(tiny_generators[q]) for q in ("fp32", "int8")]
    for point in report["points"]:
        _assert_ordered(point["generator_ms"], ("p50", "p95"))
        assert point["generator_ms"]["p50"] > 0
        assert 0 < point["psnr"] < 40 and -1 <= point["ssim"] <= 1  # random weights: far from the real face
        assert point["mouth_open_mae"] is None or point["mouth_open_mae"] >= 0
        assert f"{point['label']} " in result.stdout
    assert f"written to {out}" in result.stdout
    image = cv2.imread(str(out / "speed_quality.png"))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 300
    # The 20x budget line is drawn in red: some pixels are strongly red.
    blue, green, red = (image[..., channel].astype(int) for channel in range(3))
    assert np.count_nonzero((red > 180) & (green < 100) & (blue < 100)) > 50


def test_the_speed_quality_curve_refuses_a_missing_model(tmp_path):
    result = _speed_quality(tmp_path / "none.tflite", "--data", tmp_path, "--out", tmp_path / "curve")
    assert result.returncode == 2
    assert "none.tflite not found" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "curve").exists()


def test_the_speed_quality_curve_wants_one_label_per_model(tiny_generators, tmp_path):
    result = _speed_quality(tiny_generators["fp32"], tiny_generators["int8"], "--data", tmp_path,
                            "--label", "only one", "--out", tmp_path / "curve")
    assert result.returncode == 2
    assert "got 1 --label for 2 models, expected one per model" in result.stderr
    assert not (tmp_path / "curve").exists()


# ------------------------------------------------------------------ the soak


def test_a_short_soak_samples_memory_and_frame_rate(tiny_generators, tmp_path):
    """``reenact bench --minutes``: the real loop, the clip looped, memory and fps sampled (no timing asserted)."""
    result = _bench("--source", "sample", "--model", tiny_generators["int8"], "--minutes", 0.25,
                    "--sample-every", 1, "--json", tmp_path / "soak.json", "--plot", tmp_path / "soak.png")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "soak.json").read_text())
    assert f"{report['frames']} frames" in result.stdout and "rss after warm-up" in result.stdout
    samples = report["samples"]
    assert len(samples["seconds"]) >= 10 and samples["seconds"] == sorted(samples["seconds"])
    assert samples["frames"] == sorted(samples["frames"]) and samples["frames"][-1] <= report["frames"]
    assert all(100 < rss < 4000 for rss in samples["rss_mb"])
    assert report["frames"] > 30 and report["fps_first_tenth"] > 0 and report["fps_last_tenth"] > 0
    assert report["rss_growth_mb"] is not None and report["fps_change"] is not None
    assert report["clip_loops"] >= 1  # the sample's 300 frames at 60 fps last 5 s of the 15
    assert cv2.imread(str(tmp_path / "soak.png")) is not None


def test_the_swap_loop_soaks_too_and_the_model_must_be_a_swap_model(tiny_generators, tmp_path):
    result = _bench("--source", "sample", "--mode", "swap", "--minutes", 0.1, "--sample-every", 1,
                    "--json", tmp_path / "soak.json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["mode"] == "swap" and report["model"].endswith("default_generator.tflite")  # by re-enactment
    assert report["frames"] > 30 and "soak (swap)" in result.stdout
    refused = _bench("--source", "sample", "--model", "autoencoder", "--minutes", 0.1)  # a swap model cannot re-enact
    assert refused.returncode == 2 and "face-swap model, but --mode reenact" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_soak_minutes_are_checked(tiny_generators):
    assert main(["bench", "--source", "sample", "--model", str(tiny_generators["int8"]), "--minutes", "0"]) == 2
