"""The live loop's parts on their own: hand-offs, label, layouts, retargeting, sinks."""

import glob
import threading

import cv2
import numpy as np
import pytest

from models import face_topology as topology
from provenance.label import burn_label, label_present, write_note
from realtime.capture import BoundedHandoff, CaptureOptions, CaptureThread, LatestFrameMailbox
from realtime.postprocess import LAYOUTS, compose, frame_shape, next_layout
from realtime.retarget import Retargeter, RetargetOptions
from realtime.sinks import VIRTUALCAM_SETUP, Controls, SinkError, SinkSet, VirtualCameraSink, WindowSink
from realtime.stats import RunStats
from tests.fakes import RecordingSink, SteppedCamera, write_video

# ------------------------------------------------------------------ hand-offs


def test_mailbox_hands_over_only_the_latest_item():
    mailbox = LatestFrameMailbox()
    assert [mailbox.put(item) for item in (1, 2, 3)] == [False, True, True]  # 1 and 2 dropped
    assert mailbox.get(timeout=0.1) == 3
    mailbox.close()
    assert mailbox.get(timeout=0.1) is None


def test_bounded_handoff_keeps_every_item_in_order_and_waits_for_room():
    handoff = BoundedHandoff(2)
    received = []

    def consume():
        while (item := handoff.get(timeout=5)) is not None:
            received.append(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for item in range(50):
        handoff.put(item)
    handoff.close()
    consumer.join(timeout=5)
    assert received == list(range(50))


def test_bounded_handoff_put_gives_up_when_stopped():
    handoff, stop = BoundedHandoff(1), threading.Event()
    handoff.put("first")
    stop.set()
    handoff.put("second", stop)  # full: returns instead of blocking forever
    assert handoff.get(timeout=0.1) == "first"


@pytest.mark.timing
@pytest.mark.parametrize("stale_after", [0.5, None])
def test_a_stale_camera_frame_is_swapped_for_the_next_one(stale_after):
    import time

    camera, stats = SteppedCamera(), RunStats()
    capture = CaptureThread(camera, stats, CaptureOptions(stale_after=stale_after)).start()
    try:
        camera.release.release()
        assert capture.next_frame().index == 0
        camera.release.release()  # frame 1 arrives while the loop is busy ...
        while stats.frames_in < 2:
            time.sleep(0.01)
        time.sleep(0.6)  # ... and is 0.6 camera periods old when the loop asks for a frame
        threading.Timer(0.1, camera.release.release).start()  # frame 2 comes 0.1 periods later
        frame = capture.next_frame()
    finally:
        camera.release.release()
        capture.stop()
    if stale_after is None:  # the stale frame is taken as it is
        assert frame.index == 1 and stats.frames_dropped == 0
    else:  # the stale frame is passed over for the fresh one
        assert frame.index == 2 and stats.frames_dropped == 1


def test_timing_samples_stay_bounded_and_representative():
    from realtime.stats import Samples

    samples = Samples(capacity=1000)
    for value in range(100_000):
        samples.append(float(value % 100))
    assert len(samples) == 1000 and samples.count == 100_000
    assert abs(np.median(samples.values) - 49.5) < 5


# ------------------------------------------------------------------ label and layouts


def _driver_like_frames(count, shape):
    """Varied, face-sized content: smooth gradients and shapes, different every frame."""
    height, width = shape
    frames = []
    for index in range(count):
        y, x = np.mgrid[0:height, 0:width]
        image = np.stack([(x + 7 * index) % 256, (y * 2) % 256, ((x + y) // 2 + 40 * index) % 256], axis=2)
        image = image.astype(np.uint8)
        cv2.circle(image, (width // 2, height // 2), min(height, width) // 3, (230, 230, 230), -1)
        frames.append(image)
    return frames


@pytest.mark.parametrize("shape", [(512, 512), (512, 1024), (96, 96)])
def test_label_survives_lossy_encoding_and_is_not_seen_where_absent(tmp_path, shape):
    frames = [burn_label(frame) if index % 2 == 0 else frame
              for index, frame in enumerate(_driver_like_frames(8, shape))]
    path = write_video(tmp_path / "label.mp4", frames)
    capture, seen = cv2.VideoCapture(str(path)), []
    while (decoded := capture.read())[0]:
        seen.append(label_present(decoded[1]))
    assert seen == [True, False] * 4


def test_a_note_does_not_hide_the_label():
    frame = burn_label(np.full((256, 256, 3), 90, np.uint8))
    assert label_present(write_note(frame, "no face"))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_have_their_size_and_fit_the_run_canvas(layout):
    face = np.full((256, 256, 3), 200, np.uint8)
    driver = np.zeros((480, 640, 3), np.uint8)
    driver[:, :, 1] = 255  # pure green: find it in the output
    frame = compose(layout, face, driver, 128)
    assert frame.shape[:2] == frame_shape(layout, 128)
    green = (frame[:, :, 1] == 255) & (frame[:, :, 0] == 0)
    assert green.any() == (layout != "target")
    canvas = frame_shape("side-by-side", 128)
    assert compose(layout, face, driver, 128, canvas).shape[:2] == canvas
    assert next_layout(layout) in LAYOUTS and next_layout(layout) != layout


# ------------------------------------------------------------------ retargeting


@pytest.fixture(scope="module")
def aligned_faces(shared_data):
    """Aligned landmarks: the expressions driver (first 150 frames) and the GRID target's neutral."""
    from media.sources import open_source
    from models.alignment import Alignment
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    def aligned(spec, count):
        points = []
        with open_source(spec) as source, FaceLandmarker(LandmarkerOptions()) as landmarker:
            for frame in source:
                if len(points) == count:
                    break
                face = landmarker.detect(frame.image, round(frame.timestamp_ms))
                points.append(Alignment.from_landmarks(face.points).apply(face.points))
        return np.stack(points)

    driver = aligned(str(shared_data / "drivers" / "expressions_7s.mp4"), 150)
    target = aligned(str(shared_data / "target" / "grid_s2_pwij3p.mpg"), 1)[0]
    return driver, target


def _rigid_distance(points, reference):
    rigid = list(topology.RIGID_SHAPE)
    return float(np.linalg.norm(points[rigid, :2] - reference[rigid, :2], axis=1).mean()
                 / topology.inter_ocular(reference))


def test_retargeting_keeps_the_target_shape_and_follows_the_mouth(aligned_faces):
    driver, target = aligned_faces
    mouth_range = [topology.mouth_opening(target), 0.25]
    retargeter = Retargeter(target, {"mouth_open": mouth_range}, RetargetOptions(calibrate_frames=30))
    outputs = np.stack([retargeter(points) for points in driver])
    assert retargeter.calibrated
    after = slice(30, None)
    # Shape: the target's own face, not the driver's.
    target_drift = np.mean([_rigid_distance(p, target) for p in outputs[after]])
    driver_drift = np.mean([_rigid_distance(p, target) for p in driver[after]])
    assert target_drift < 0.5 * driver_drift
    # Expression: the mouth opens when the driver's does, fully, and no further than the target's range.
    driver_mouth = np.array([topology.mouth_opening(p) for p in driver[after]])
    target_mouth = np.array([topology.mouth_opening(p) for p in outputs[after]])
    assert driver_mouth.max() > 0.5  # the clip does open wide
    assert np.corrcoef(driver_mouth, target_mouth)[0, 1] > 0.9
    assert target_mouth[driver_mouth.argmax()] > 0.95 * mouth_range[1]
    assert target_mouth.max() < mouth_range[1] + 0.01
    assert target_mouth[driver_mouth < 0.02].max() < mouth_range[0] + 0.03


def test_without_calibration_the_driver_face_passes_through(aligned_faces):
    driver, target = aligned_faces
    retargeter = Retargeter(target, {"mouth_open": [0.0, 0.3]}, RetargetOptions(calibrate_frames=0))
    np.testing.assert_allclose(retargeter(driver[40]), driver[40], atol=1e-4)
    assert not retargeter.calibrated


def test_recalibration_keeps_the_old_neutral_until_the_new_one_is_complete(aligned_faces):
    driver, target = aligned_faces
    retargeter = Retargeter(target, {}, RetargetOptions(calibrate_frames=5))
    for points in driver[:5]:
        retargeter(points)
    first = retargeter.driver_neutral.copy()
    retargeter.recalibrate()
    for points in driver[60:64]:
        retargeter(points)
        np.testing.assert_array_equal(retargeter.driver_neutral, first)
    retargeter(driver[64])
    assert not np.array_equal(retargeter.driver_neutral, first)


def test_head_motion_puts_the_driver_shift_roll_and_scale_back_clamped():
    from realtime.retarget import HeadMotion

    neutral = np.array([[0.5, 0.0, 10.0], [0.0, 0.5, 20.0]])  # frame -> crop: half scale, shifted

    def moved(shift_px, angle_deg=0.0):
        # the alignment of a face moved by shift_px and rolled by angle_deg in the frame
        turn = cv2.getRotationMatrix2D((0.0, 0.0), angle_deg, 1.0)[:, :2]
        linear = neutral[:, :2] @ turn.T
        return np.hstack([linear, (neutral[:, 2] - linear @ np.asarray(shift_px, float))[:, None]])

    motion = HeadMotion(size=256, calibrate_frames=3)
    assert all(motion(neutral) is None for _ in range(2))  # still calibrating
    np.testing.assert_allclose(motion(neutral), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    np.testing.assert_allclose(motion(moved((20, -10))), [[1, 0, 10], [0, 1, -5]], atol=1e-9)  # crop scale 0.5
    rolled = motion(moved((0, 0), angle_deg=10))
    assert abs(np.degrees(np.arctan2(rolled[1, 0], rolled[0, 0]))) == pytest.approx(10, abs=1e-6)
    far = motion(moved((400, 0)))  # 200 crop pixels: clamped to 15 % of the crop
    assert far[0, 2] == pytest.approx(0.15 * 256)


# ------------------------------------------------------------------ sinks


def test_a_sink_failing_mid_run_is_reported_once_and_the_others_go_on():
    reports = []
    failing, healthy = RecordingSink("flaky", fail_at=2), RecordingSink("healthy")
    sinks = SinkSet([failing, healthy], fps=30, report=reports.append)
    frame = burn_label(np.zeros((64, 64, 3), np.uint8))
    for _ in range(6):
        sinks.send(frame)
    sinks.close()
    assert len(healthy.frames) == 6 and len(failing.frames) == 2
    assert len(reports) == 1 and "flaky" in reports[0] and "device went away" in reports[0]
    assert failing.closed and healthy.closed


def test_when_every_sink_has_failed_the_run_ends_with_a_sink_error():
    sinks = SinkSet([RecordingSink("only", fail_at=1)], fps=30, report=lambda message: None)
    sinks.send(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(SinkError, match="no output is left.*device went away"):
        sinks.send(np.zeros((32, 32, 3), np.uint8))


@pytest.mark.skipif(bool(glob.glob("/dev/video*")),
                    reason="needs a machine without /dev/video* devices (it checks the message for a missing "
                           "virtual camera); this one has a video device")
def test_a_virtual_camera_without_a_device_says_how_to_set_one_up():
    reports, healthy = [], RecordingSink()
    sinks = SinkSet([VirtualCameraSink(), healthy], fps=30, report=reports.append)
    for _ in range(3):
        sinks.send(np.zeros((64, 64, 3), np.uint8))
    sinks.close()
    assert len(reports) == 1 and VIRTUALCAM_SETUP in reports[0]
    assert len(healthy.frames) == 3


def test_window_keys_drive_the_loop(tmp_path):
    keys = iter([ord("l"), ord("c"), ord("s"), ord("p"), ord("e"), ord("p"), ord("p"), -1, ord("q")])
    shown = []
    controls = Controls("target")
    window = WindowSink(controls, RunStats(), snapshot_dir=tmp_path, show=lambda title, image: shown.append(image),
                        wait_key=lambda delay_ms: next(keys))
    window.open(64, 64, 30)
    frame = burn_label(np.zeros((64, 64, 3), np.uint8))
    window.send(frame)
    assert controls.layout == "side-by-side"
    window.send(frame)
    assert controls.take_calibration_request() and not controls.take_calibration_request()
    window.send(frame)
    assert len(window.snapshots) == 1 and label_present(cv2.imread(str(window.snapshots[0])))
    assert controls.motion_scales() == (1.0, 1.0)
    window.send(frame)
    assert controls.motion_scales() == (0.5, 1.0)  # p: the pose gain halved
    window.send(frame)
    assert controls.motion_scales() == (0.5, 0.5)  # e: the expression gain halved
    window.send(frame)
    window.send(frame)
    assert controls.motion_scales() == (1.0, 0.5)  # p twice more: off, then back to whole
    window.send(frame)
    assert not controls.stop.is_set()
    window.send(frame)
    assert controls.stop.is_set()
    assert len(shown) == 9 and all(label_present(image) for image in shown)


# ------------------------------------------------------------------ command-line defaults


def test_the_default_camera_skips_virtual_cameras(tmp_path, monkeypatch):
    from media import sources

    monkeypatch.setattr(sources.platform, "system", lambda: "Linux")
    assert sources.default_camera(tmp_path) is None
    for node, name in (("video0", "reenact"), ("video10", "Integrated Camera"), ("video2", "HD Webcam C270")):
        (tmp_path / node).mkdir()
        (tmp_path / node / "name").write_text(name + "\n")
    assert sources.default_camera(tmp_path) == "2"


def test_a_model_of_an_unknown_kind_is_refused_in_one_line_not_run_as_another(tiny_generators, tmp_path, capsys):
    import dataclasses

    from models.errors import UserError
    from models.generator_contract import load_generator_file, write_metadata
    from realtime.generator_runner import GeneratorRunner
    from realtime.pipeline import build_stages
    from reenact.cli import main

    model_bytes, metadata = load_generator_file(tiny_generators["int8"])
    hologram = dataclasses.replace(metadata, mode="hologram")
    path = tmp_path / "hologram.tflite"
    path.write_bytes(write_metadata(model_bytes, hologram))
    assert main(["live", "--model", str(path), "--source", "sample", "--output", str(tmp_path / "o.mp4")]) == 2
    error = capsys.readouterr().err
    assert "'hologram'" in error and error.count("\n") == 1
    runner = GeneratorRunner(model_bytes, hologram)
    with pytest.raises(UserError, match="'hologram', which this version cannot run"):
        build_stages(runner, landmarker=None, stats=RunStats())


def test_the_hud_wraps_the_stage_timings_within_the_frame():
    from realtime.sinks import hud_lines

    stats = RunStats()
    stages = ("landmarks", "smooth", "retarget", "sketch", "motion", "generator", "warp", "enhance", "post", "label",
              "watermark", "sinks")
    for stage in stages:
        stats.add_stage(stage, 12.345)
    width = 320
    scale = max(14, width // 28) / 30

    def fits(text):
        return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 3)[0][0] <= width - 16

    lines = hud_lines(stats, fits)
    assert len(lines) > 2 and all(fits(line) for line in lines)  # several lines, none past the edge
    assert all(f"{stage} 12.3" in " ".join(lines) for stage in stages)  # and every stage on one of them
    assert len(hud_lines(stats)) == 2  # with room enough, one line of timings


def test_hud_text_and_its_outline_line_up_letter_for_letter():
    """The window's figures are white on a black outline; a thick black copy of the text used
    to drift right of the thin white one, letter by letter, until the two read as offset copies."""
    from realtime.sinks import outlined_text

    image = np.full((60, 900, 3), 128, np.uint8)
    text = "ms: landmarks 3.0 smooth 0.0 retarget 0.8 sketch 0.3 motion 1.8 generator 5.0 warp 0.2"
    outlined_text(image, text, (8, 40), 0.6)
    grey = image[:, :, 0].astype(int)
    white_columns = np.flatnonzero((grey > 200).any(axis=0))
    black_columns = np.flatnonzero((grey < 30).any(axis=0))
    assert len(white_columns) > 0 and len(black_columns) > 0
    # The outline reaches two or three pixels past the letters on either side, never more.
    assert 0 <= white_columns[0] - black_columns[0] <= 3
    assert 0 <= black_columns[-1] - white_columns[-1] <= 3
    # And inside the text, every white pixel has outline within three pixels of it.
    near_black = cv2.dilate((grey < 30).astype(np.uint8), np.ones((7, 7), np.uint8))
    assert near_black[grey > 200].all()
