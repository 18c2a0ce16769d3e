import json
import subprocess
import sys

import numpy as np

from media.sources import open_source
from models.face_topology import mouth_opening
from models.landmarker import LIVE_OPTIONS, FaceLandmarker, LandmarkerOptions


def test_no_face_is_none_not_an_exception():
    with FaceLandmarker() as landmarker:
        assert landmarker.detect(np.zeros((240, 320, 3), np.uint8), 0) is None


def test_landmarks_on_the_sample_source():
    with open_source("sample") as source, FaceLandmarker() as landmarker:
        faces = [landmarker.detect(frame.image, frame.timestamp_ms) for frame in list(source)[:60:6]]
    assert all(face is not None for face in faces)
    face = faces[0]
    assert face.points.shape == (478, 3) and face.pose.shape == (4, 4)
    assert "jawOpen" in face.blendshapes
    height, width = 384, 384
    assert 0 <= face.points[:, 0].min() and face.points[:, 0].max() <= width
    assert 0 <= face.points[:, 1].min() and face.points[:, 1].max() <= height


def test_the_live_options_track_one_face_and_find_the_same_points():
    with open_source("sample") as source:
        frames = list(source)[:30]
    with FaceLandmarker() as full, FaceLandmarker(LIVE_OPTIONS) as live:
        pairs = [(full.detect(frame.image, frame.timestamp_ms), live.detect(frame.image, frame.timestamp_ms))
                 for frame in frames]
    assert all(a is not None and b is not None for a, b in pairs)
    assert all(b.pose is None and b.blendshapes == {} for _, b in pairs)  # not computed at all
    # The same network on the same frames: tracking alone moves points by well under a pixel
    # on average (the sample is 384 x 384).
    difference = np.mean([np.abs(a.points[:, :2] - b.points[:, :2]).mean() for a, b in pairs])
    assert difference < 1.0


def test_timestamps_may_repeat_without_error(sample_images):
    # MediaPipe's VIDEO mode rejects a timestamp that does not increase; the wrapper takes it.
    blank = np.zeros((64, 64, 3), np.uint8)
    with FaceLandmarker() as landmarker:
        assert [landmarker.detect(blank, 0) for _ in range(3)] == [None, None, None]  # a blank frame has no face
        faces = [landmarker.detect(image, 40) for image in sample_images[:3]]
        assert landmarker.detect(blank, 40) is None  # and after a face, a blank frame is not one
    assert all(face is not None and face.points.shape == (478, 3) for face in faces)


def test_largest_face_wins(shared_data):
    import cv2

    capture = cv2.VideoCapture(str(shared_data / "drivers" / "expressions_7s.mp4"))
    _, frame = capture.read()
    capture.release()
    small = cv2.resize(frame, (160, 160))
    canvas = np.full((480, 800, 3), 128, np.uint8)
    canvas[:, :480] = frame
    canvas[300:460, 600:760] = small
    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        face = landmarker.detect(canvas)
    assert face is not None and face.points[:, 0].mean() < 480


def test_mouth_opening_tracks_the_expressions_clip(shared_data):
    """The driver clip opens its mouth wide in the middle: the measure must see it."""
    with open_source(str(shared_data / "drivers" / "expressions_7s.mp4")) as source, FaceLandmarker() as landmarker:
        openings = [mouth_opening(landmarker.detect(f.image, f.timestamp_ms).points) for f in source]
    assert min(openings[:15]) < 0.05 and max(openings) > 0.4


def test_landmarks_command_on_the_expressions_clip(shared_data, tmp_path):
    stats_path = tmp_path / "stats.json"
    out = tmp_path / "out.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "reenact.cli", "landmarks", "--source",
         str(shared_data / "drivers" / "expressions_7s.mp4"), "--out", str(out), "--stats", str(stats_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(stats_path.read_text())
    assert stats["frames"] == 216 and stats["frames_with_face"] == 216
    assert 0 < stats["landmark_ms"]["p50"] <= stats["landmark_ms"]["p95"]
    import cv2

    capture = cv2.VideoCapture(str(out))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert count == 216 and ok and first.shape == (256, 256 * 3, 3)
