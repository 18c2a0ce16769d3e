"""The live loop end to end: real landmarker, real LiteRT (tiny models), real sinks.

Every output path is checked for the SYNTHETIC label on every frame: the decoded file,
the frames the window would draw, and the frames sent through the real
``pyvirtualcam.Camera`` into an in-memory backend registered here.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvirtualcam

from media.sources import SourceError, open_source
from models.generator_contract import read_metadata, write_metadata
from provenance.label import label_present
from provenance.watermark import Payload, Watermarker
from realtime.capture import CaptureOptions
from realtime.generator_runner import GeneratorOptions, GeneratorRunner
from realtime.pipeline import LiveConfig, run_live
from realtime.postprocess import frame_shape
from realtime.sinks import VIRTUALCAM_SETUP, Controls, FileSink, SinkError, VirtualCameraSink, WindowSink
from realtime.stages import PipelineOptions
from realtime.stats import RecordingStats
from tests.fakes import CameraLikeSource, ListSource, RecordingSink, decode_video

REPOSITORY = Path(__file__).resolve().parents[1]
OUTPUT_SIZE = 256  # output frames in these tests: big enough to read, small enough to be quick
MEMORY_BACKEND = "reenact-test-memory"


# ------------------------------------------------------------------ test doubles: a virtual camera backend


class MemoryCameraBackend:
    """A pyvirtualcam backend that keeps the frames sent to it (registered by the tests)."""

    instances = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.frames = width, height, []
        MemoryCameraBackend.instances.append(self)

    def send(self, frame):
        self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self):
        pass

    def device(self):
        return "memory"

    def native_fourcc(self):
        return None


@pytest.fixture
def memory_camera_backend():
    """The in-memory backend, registered with pyvirtualcam for one test and removed after."""
    pyvirtualcam.register_backend(MEMORY_BACKEND, MemoryCameraBackend)
    MemoryCameraBackend.instances.clear()
    yield MemoryCameraBackend
    # pyvirtualcam has no unregister; left in, the backend would be "any available" camera.
    pyvirtualcam.camera.BACKENDS.pop(MEMORY_BACKEND, None)


def _config(model, **pipeline):
    return LiveConfig(source="unused", model_path=model, outputs=(),
                      pipeline=PipelineOptions(output_size=OUTPUT_SIZE, **pipeline))


_CLI_SCRIPT = ("import sys\nfrom reenact.cli import main\ncode = main(sys.argv[1:])\n"
               "assert sys.modules.get('tensorflow') is None, 'the live loop imported TensorFlow'\n"
               "sys.exit(code)\n")


def _cli_command(*args):
    """``reenact ARGS`` in a fresh interpreter, which must not import TensorFlow."""
    return [sys.executable, "-c", _CLI_SCRIPT, *map(str, args)]


def _run_cli(*args, timeout=240):
    return subprocess.run(_cli_command(*args), cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY)})


# ------------------------------------------------------------------ end to end


def test_cli_writes_every_frame_of_the_expressions_clip_labelled(shared_data, tiny_generators, tmp_path):
    out, stats_path = tmp_path / "live.mp4", tmp_path / "stats.json"
    result = _run_cli("live", "--source", shared_data / "drivers" / "expressions_7s.mp4",
                      "--model", tiny_generators["int8"], "--output", out, "--no-pace", "--stats", stats_path)
    assert result.returncode == 0, result.stderr
    frames = decode_video(out)
    assert len(frames) == 216
    assert {frame.shape for frame in frames} == {(512, 512, 3)}
    assert all(label_present(frame) for frame in frames)
    stats = json.loads(stats_path.read_text())
    assert (stats["frames_in"], stats["frames_out"], stats["frames_dropped"]) == (216, 216, 0)
    assert stats["frames_without_face"] == 0 and stats["fps"] > 0
    assert set(stats["latency_ms"]) == {"p50", "p95", "p99"}
    assert {"landmarks", "smooth", "retarget", "sketch", "motion", "generator", "post", "label", "watermark",
            "sinks"} <= set(
        stats["stages_ms"])
    assert all(set(timing) == {"p50", "p95"} for timing in stats["stages_ms"].values())


@pytest.mark.parametrize("layout, variant", [("target", "int8"), ("side-by-side", "fp32"), ("pip", "int8")])
def test_window_virtual_camera_and_file_all_get_labelled_frames(sample_images, tiny_generators, tmp_path,
                                                                memory_camera_backend, layout, variant):
    drawn = []
    controls = Controls(layout)
    sinks = [WindowSink(controls, show=lambda title, image: drawn.append(image.copy())),
             VirtualCameraSink(backend=MEMORY_BACKEND), FileSink(tmp_path / "out.mp4")]
    summary = run_live(_config(tiny_generators[variant], layout=layout), sinks=sinks,
                       source=ListSource(sample_images[:12]), controls=controls)

    height, width = frame_shape(layout, OUTPUT_SIZE)
    (camera,) = memory_camera_backend.instances
    decoded = decode_video(tmp_path / "out.mp4")
    for frames in (drawn, decoded):
        assert len(frames) == 12
        assert all(frame.shape == (height, width, 3) for frame in frames)
        assert all(label_present(frame) for frame in frames)
    # The virtual camera sends 1280x720, what video-call apps expect: the frame fitted in the middle.
    assert (camera.width, camera.height) == (1280, 720) and len(camera.frames) == 12
    scale = min(1280 / width, 720 / height)
    fitted_width, fitted_height = round(width * scale), round(height * scale)
    left, top = (1280 - fitted_width) // 2, (720 - fitted_height) // 2
    for sent, shown in zip(camera.frames, drawn):
        assert sent.shape == (720, 1280, 3)
        inside = sent[top:top + fitted_height, left:left + fitted_width]
        back = cv2.resize(inside, (width, height), interpolation=cv2.INTER_AREA)
        assert label_present(back)
        assert np.abs(back.astype(int) - shown.astype(int)).mean() < 4  # the same frame, scaled
        if left:
            assert sent[:, :left].max() == 0 and sent[:, left + fitted_width:].max() == 0  # black beside it
    assert summary["frames_out"] == 12 and summary["frames_without_face"] == 0
    assert summary["outputs"] == ["window", "virtual camera", f"file {tmp_path / 'out.mp4'}"]
    assert summary["outputs_failed"] == {}


def test_the_tasks_api_still_drives_the_loop_when_asked(sample_images, tiny_generators):
    recorder = RecordingSink()
    summary = run_live(_config(tiny_generators["int8"], landmarker="tasks"), sinks=[recorder],
                       source=ListSource(sample_images[:12]))
    assert summary["frames_out"] == 12 and summary["frames_without_face"] == 0
    assert all(label_present(frame) for frame in recorder.frames)


@pytest.mark.parametrize("clip", ["grid_lbax4n_glasses_3s.mpg", "expressive_34s.mp4"])
def test_other_driver_clips_run_through(shared_data, tiny_generators, tmp_path, clip):
    with open_source(str(shared_data / "drivers" / clip)) as source:
        images = [source.read().image for _ in range(20)]
    summary = run_live(_config(tiny_generators["int8"]), sinks=[FileSink(tmp_path / "out.mp4")],
                       source=ListSource(images, name=clip))
    frames = decode_video(tmp_path / "out.mp4")
    assert len(frames) == 20 and all(label_present(frame) for frame in frames)
    assert summary["frames_without_face"] == 0


def test_without_a_face_the_last_face_stays_dimmed_and_labelled(sample_images, tiny_generators):
    blank = np.full_like(sample_images[0], 128)
    images = sample_images[:8] + [blank] * 5 + sample_images[8:12]
    recorder = RecordingSink()
    summary = run_live(_config(tiny_generators["fp32"]), sinks=[recorder], source=ListSource(images))
    frames = recorder.frames
    assert len(frames) == 17 and summary["frames_without_face"] == 5
    assert all(label_present(frame) for frame in frames)
    face_rows = slice(OUTPUT_SIZE // 8, OUTPUT_SIZE * 3 // 4)  # below the banner, above the note
    last_face = frames[7][face_rows].astype(np.int32)
    # The invisible mark is added after dimming, to the last face and to its dimmed copies
    # alike, so the two differ by up to its peak beyond the rounding.
    tolerance = 2 + Watermarker(Payload(0, 0)).peak
    for frame in frames[8:13]:  # the last face, at 40 % brightness (fixed point: 102 / 256)
        assert np.abs(frame[face_rows].astype(np.int32) - ((last_face * 102) >> 8)).max() <= tolerance
    note_rows = slice(OUTPUT_SIZE * 3 // 4, OUTPUT_SIZE)
    assert (frames[8][note_rows] > 200).all(axis=2).sum() > 20  # the note's white text
    assert frames[13][face_rows].mean() > 2 * frames[12][face_rows].mean()  # the face is back, bright


@pytest.mark.timing
def test_a_slow_stage_makes_a_camera_drop_frames_while_latency_stays_bounded(sample_images, tiny_generators):
    controls = Controls("target")
    camera = CameraLikeSource(sample_images[:24] * 2, fps=30.0, on_end=controls.stop.set)  # 48 frames, 1.6 s
    slow = RecordingSink(delay_s=0.1)
    summary = run_live(_config(tiny_generators["int8"]), sinks=[slow], source=camera, controls=controls)
    assert summary["frames_in"] == 48
    assert summary["frames_dropped"] >= 20  # frames were dropped, not queued ...
    assert summary["frames_out"] <= 28
    # ... so a frame is at most a few slow periods old when it is shown. Had all 48 been
    # queued behind a 100 ms stage, the last would have waited over 3 s.
    assert summary["latency_ms"]["p95"] < 600


@pytest.mark.timing
@pytest.mark.parametrize("overlap", [False, True])
def test_overlap_decides_whether_landmarks_run_during_the_generator(sample_images, tiny_generators, overlap,
                                                                     monkeypatch):
    # A generator and a sink slow enough that MediaPipe's runs can be seen against them.
    generate = GeneratorRunner.generate

    def slow_generate(self, *args, **kwargs):
        time.sleep(0.03)
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(GeneratorRunner, "generate", slow_generate)
    controls = Controls("target")
    camera = CameraLikeSource(sample_images[:24] * 3, fps=60.0, on_end=controls.stop.set)  # 1.2 s
    stats = RecordingStats()  # keeps when each stage ended, and how long it took
    run_live(_config(tiny_generators["int8"], overlap=overlap), sinks=[RecordingSink(delay_s=0.03)],
             source=camera, controls=controls, stats=stats)

    def intervals(wanted):
        return [(end - ms / 1000.0, end) for end, stage, ms in stats.stage_events if stage == wanted]

    def overlapping(spans):
        return sum(any(start < span_end and span_start < end for span_start, span_end in spans)
                   for start, end in landmarks)

    landmarks, generator, sinks = intervals("landmarks"), intervals("generator"), intervals("sinks")
    assert len(landmarks) >= 8 and len(generator) >= 8 and len(sinks) >= 8
    # Overlapped, MediaPipe looks at the next frame while the generator runs; by default
    # never then, but while the last frame is finished and sent.
    if overlap:
        assert overlapping(generator) >= len(generator) // 2
    else:
        assert overlapping(generator) == 0
        assert overlapping(sinks) >= len(sinks) // 2


def test_a_file_with_a_slow_stage_loses_nothing(sample_images, tiny_generators):
    slow = RecordingSink(delay_s=0.05)
    summary = run_live(_config(tiny_generators["int8"]), sinks=[slow], source=ListSource(sample_images[:15]))
    assert (summary["frames_in"], summary["frames_out"], summary["frames_dropped"]) == (15, 15, 0)


@pytest.mark.parametrize("gaps, delivered", [({}, 8), ({4: 2}, 8)])
def test_a_camera_that_drops_out_is_retried_then_ends_the_run_with_a_message(sample_images, tiny_generators,
                                                                             tmp_path, gaps, delivered):
    camera = CameraLikeSource(sample_images[:8], gaps=gaps)  # goes silent after its 8 frames
    config = replace(_config(tiny_generators["int8"]), stats_path=tmp_path / "stats.json",
                     capture=CaptureOptions(retry_attempts=3, retry_first_delay_s=0.02))
    with pytest.raises(SourceError, match="stopped delivering frames.*3 tries"):
        run_live(config, sinks=[FileSink(tmp_path / "out.mp4")], source=camera)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["stopped_by"] == "error" and stats["frames_in"] == delivered
    frames = decode_video(tmp_path / "out.mp4")  # finalised: it decodes
    assert len(frames) == stats["frames_out"] == delivered - stats["frames_dropped"]
    assert all(label_present(frame) for frame in frames)


def _default_interrupt():
    """Ctrl-C as at a terminal. A shell starts background jobs with SIGINT ignored, a child
    inherits that, and Python then leaves it ignored: run so, the test would send its
    SIGINT into nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.timing
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_finish_the_file_properly(tiny_generators, tmp_path, signal_number):
    out, stats_path = tmp_path / "out.mp4", tmp_path / "stats.json"
    process = subprocess.Popen(_cli_command("live", "--source", "sample", "--model", tiny_generators["int8"],
                                            "--output", out, "--stats", stats_path, "--size", OUTPUT_SIZE),
                               cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_default_interrupt)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:  # the file opens with the first frame
        time.sleep(0.1)
    time.sleep(1.0)  # the sample plays at 30 fps: a few dozen frames, far from its 300
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    stats = json.loads(stats_path.read_text())
    assert stats["stopped_by"] in ("interrupt", "stop requested") and 0 < stats["frames_out"] < 300, \
        (stats["stopped_by"], stats["frames_in"], stats["frames_out"], stderr[-2000:])
    frames = decode_video(out)
    assert len(frames) == stats["frames_out"] and all(label_present(frame) for frame in frames)


# ------------------------------------------------------------------ the generator runner


def test_runner_handles_float_and_int8_models_alike(tiny_generators):
    sketch = np.zeros((256, 256, 3), np.uint8)
    cv2.circle(sketch, (128, 128), 60, (255, 200, 255), -1)
    faces = {}
    for variant, path in tiny_generators.items():
        runner = GeneratorRunner.from_file(GeneratorOptions(path, num_threads=1))
        assert runner.input_dtype == (np.float32 if variant == "fp32" else np.int8)
        faces[variant] = runner.generate(sketch)
        assert faces[variant].shape == (256, 256, 3) and faces[variant].dtype == np.uint8
    difference = np.abs(faces["fp32"].astype(int) - faces["int8"].astype(int))
    assert difference.mean() < 6 and faces["fp32"].std() > 5  # same network, not a flat image
    with pytest.raises(ValueError, match="num_threads"):
        GeneratorRunner.from_file(GeneratorOptions(tiny_generators["fp32"], num_threads=0))


# ------------------------------------------------------------------ faults a user meets, through the CLI


def _bad_models(tmp_path, good: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the error must say)."""
    model_bytes = good.read_bytes()
    metadata = read_metadata(model_bytes)
    cases = {
        "missing": (tmp_path / "absent.tflite", "no such file"),
        "corrupt": (tmp_path / "corrupt.tflite", "not a readable TFLite model"),
        "wrong sketch version": (tmp_path / "old_sketch.tflite", "trained on sketch 'landmark-sketch/0'"),
        "wrong size": (tmp_path / "wrong_size.tflite", "expected (1, 128, 128, 3)"),
    }
    cases["corrupt"][0].write_bytes(np.random.default_rng(0).bytes(4096))
    cases["wrong sketch version"][0].write_bytes(
        write_metadata(model_bytes, replace(metadata, sketch_version="landmark-sketch/0")))
    cases["wrong size"][0].write_bytes(write_metadata(model_bytes, replace(metadata, input_size=128)))
    return cases


@pytest.mark.parametrize("case", ["missing", "corrupt", "wrong sketch version", "wrong size"])
def test_a_bad_model_is_refused_before_any_camera_opens(tiny_generators, tmp_path, case):
    path, expected = _bad_models(tmp_path, tiny_generators["fp32"])[case]
    # Camera 7 does not exist: had it been opened first, the error would be about it.
    result = _run_cli("live", "--source", "7", "--model", path, "--output", tmp_path / "out.mp4")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"reenact live: error: model {path}") and expected in last_line
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.skipif(bool(glob.glob("/dev/video*")),
                    reason="needs a machine without /dev/video* devices (it checks the message for a missing "
                           "virtual camera); this one has a video device")
def test_cli_without_a_virtual_camera_device_says_so_once_and_writes_the_file(sample_images, tiny_generators,
                                                                            tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(sample_images[:6]):
        cv2.imwrite(str(folder / f"{index:03d}.png"), image)
    out = tmp_path / "out.mp4"
    result = _run_cli("live", "--source", folder, "--model", tiny_generators["int8"], "--output", "virtualcam",
                      "--output", out, "--size", OUTPUT_SIZE)
    assert result.returncode == 1, result.stderr  # an output failed: a script must be able to tell
    assert result.stderr.count(VIRTUALCAM_SETUP) == 1 and "Traceback" not in result.stderr
    frames = decode_video(out)
    assert len(frames) == 6 and all(label_present(frame) for frame in frames)
    # The summary names the output that worked, and the one that failed, not both as if they had.
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.endswith(f"-> file {out}; virtual camera failed"), summary


def test_a_file_that_is_no_video_gets_our_one_line_and_no_library_chatter(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    result = _run_cli("live", "--source", bad, "--output", tmp_path / "out.mp4")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"reenact live: error: source {bad}: not a readable video"]


def test_loop_replays_a_file_without_end(sample_images, tiny_generators, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(sample_images[:4]):
        cv2.imwrite(str(folder / f"{index:03d}.png"), image)
    with open_source(str(folder), loop=True) as source:
        frames = [source.read() for _ in range(10)]
    assert [frame.index for frame in frames] == list(range(10))
    assert all(later.timestamp_ms > earlier.timestamp_ms for earlier, later in zip(frames, frames[1:]))
    assert np.array_equal(frames[5].image, frames[1].image) and source.replays == 2
    # Through the loop itself (MediaPipe's video mode needs the rising timestamps): past the 4 frames.
    controls = Controls("target")
    recorder = RecordingSink(stop_after=11, controls=controls)
    config = replace(_config(tiny_generators["int8"]), source=str(folder), loop=True,
                     capture=CaptureOptions(pace=False))
    summary = run_live(config, sinks=[recorder], controls=controls)
    assert summary["frames_out"] >= 11 and summary["stopped_by"] == "stop requested"
    with pytest.raises(SourceError, match="a camera cannot loop"):
        open_source("0", loop=True)


@pytest.mark.parametrize("argument, message", [
    (["--output", "out.txt"], "expected window, virtualcam or a video file"),
    (["--camera-size", "1280by720"], "got --camera-size '1280by720', expected WIDTHxHEIGHT"),
    (["--camera-size", "1281x720"], "got --camera-size 1281x720"),
    (["--threads", "0"], "got --threads 0"),
    (["--calibrate", "-1"], "got --calibrate -1"),
])
def test_bad_arguments_are_one_line_errors(tiny_generators, capsys, argument, message):
    from reenact import cli

    code = cli.main(["live", "--source", "sample", "--model", str(tiny_generators["fp32"]), *argument])
    assert code == 2 and message in capsys.readouterr().err


def test_every_sink_failing_ends_the_run_with_a_message(sample_images, tiny_generators, tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(SinkError, match="cannot write a video there"):
        run_live(_config(tiny_generators["int8"]), sinks=[FileSink(tmp_path / "blocker" / "out.mp4")],
                 source=ListSource(sample_images[:3]))


def test_live_exits_non_zero_when_an_output_failed_and_the_others_went_on(tiny_generators, tmp_path, capsys):
    from reenact import cli

    (tmp_path / "blocker").write_text("a file where a folder should be")
    good = tmp_path / "good.mp4"
    code = cli.main(["live", "--source", "sample", "--model", str(tiny_generators["int8"]), "--no-enhance",
                     "--output", str(tmp_path / "blocker" / "out.mp4"), "--output", str(good), "--size", "128"])
    output = capsys.readouterr()
    assert code == 1 and "blocker/out.mp4 failed" in output.out
    assert good.is_file() and len(decode_video(good)) > 0  # the other output got every frame
    assert cli.main(["live", "--source", "sample", "--model", str(tiny_generators["int8"]), "--no-enhance",
                     "--output", str(good), "--size", "128"]) == 0


# ------------------------------------------------------------------ a real window, under Xvfb


@pytest.fixture
def virtual_display():
    """A throwaway X display (Xvfb); skips where Xvfb is not installed."""
    import shutil

    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb for a throwaway X display, which is not installed: apt-get install -y xvfb")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as display_number:
        number = display_number.readline().strip()
    try:
        if not number:
            pytest.skip("needs a throwaway X display, and Xvfb did not start one: run `Xvfb -displayfd 1` to see why")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_real_window_opens_under_a_display(sample_images, tiny_generators, tmp_path, virtual_display,
                                               monkeypatch):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(sample_images[:4]):
        cv2.imwrite(str(folder / f"{index:03d}.png"), image)
    monkeypatch.setenv("DISPLAY", virtual_display)
    out = tmp_path / "out.mp4"
    result = _run_cli("live", "--source", folder, "--model", tiny_generators["int8"], "--output", "window",
                      "--output", out, "--size", OUTPUT_SIZE)
    assert result.returncode == 0, result.stderr
    assert "reenact live" not in result.stderr  # no output failed
    assert result.stdout.startswith("4 frames in, 4 out")
    assert len(decode_video(out)) == 4
