"""The embedded "sample" driver clip: well-formed, deterministic, and really animated.

The animation is checked the way the live loop will see it: MediaPipe measures the clip's
frames, and its measures must follow what ``expression(i)`` says each frame shows.
"""

import numpy as np
import pytest

import media.sample_clip as sample_clip
from media.sample_clip import SAMPLE_FPS, SAMPLE_FRAMES, SampleClip
from models.face_topology import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, eye_opening, mouth_opening
from models.landmarker import FaceLandmarker


@pytest.fixture(scope="module")
def clip() -> SampleClip:
    return SampleClip()


@pytest.fixture(scope="module")
def parameters(clip) -> list[dict[str, float]]:
    return [clip.expression(index) for index in range(len(clip))]


@pytest.fixture(scope="module")
def measured(clip, parameters) -> dict[int, object]:
    """MediaPipe (VIDEO mode) on every 5th frame and on every frame with the eyes shut."""
    shut = {index for index, values in enumerate(parameters) if values["blink"] >= 0.99}
    indices = sorted(set(range(0, len(clip), 5)) | shut)
    with FaceLandmarker() as landmarker:
        return {index: landmarker.detect(clip.frame(index), round(index * 1000 / clip.fps))
                for index in indices}


def test_length_rate_and_frame_format(clip):
    assert len(clip) == SAMPLE_FRAMES == 300
    assert clip.fps == SAMPLE_FPS == 30.0
    first = clip.frame(0)
    assert first.shape == (384, 384, 3) and first.dtype == np.uint8
    again = clip.frame(0)
    assert again is not first and not np.shares_memory(again, first)
    again[:] = 0  # a caller may draw on its frame without changing the next one
    np.testing.assert_array_equal(clip.frame(0), first)


def test_other_sizes_resize_the_portrait():
    small = SampleClip(size=192)
    frame = small.frame(100)
    assert frame.shape == (192, 192, 3) and frame.dtype == np.uint8


def test_two_clips_give_bit_identical_frames(clip):
    other = SampleClip()
    for index in (0, 24, 45, 112, 150, 299):
        np.testing.assert_array_equal(clip.frame(index), other.frame(index))
        assert clip.expression(index) == other.expression(index)


def test_frames_move_and_stay_a_real_picture(clip):
    frames = [clip.frame(index).astype(np.int16) for index in (0, 24, 45, 112)]
    for earlier, later in zip(frames, frames[1:]):
        assert np.abs(later - earlier).max() > 50  # something visibly moved
        assert np.mean(np.abs(later - earlier)) < 5  # but the picture is the same portrait
    assert all(frame.std() > 40 for frame in frames)  # no blank or washed-out frame


@pytest.mark.parametrize("index", [-1, 300, 10**6, 1.5, "3", None])
def test_a_bad_index_is_a_value_error(clip, index):
    with pytest.raises(ValueError, match="index"):
        clip.frame(index)
    with pytest.raises(ValueError, match="index"):
        clip.expression(index)


@pytest.mark.parametrize("size", [0, 64, 384.0, True])
def test_a_bad_size_is_a_value_error(size):
    with pytest.raises(ValueError, match="size"):
        SampleClip(size=size)


def test_the_timeline_opens_the_mouth_blinks_and_moves_the_head(parameters):
    mouth = np.array([values["mouth"] for values in parameters])
    blink = np.array([values["blink"] for values in parameters])
    openings = np.count_nonzero((mouth[1:] >= 0.5) & (mouth[:-1] < 0.5))
    blinks = np.count_nonzero((blink[1:] >= 0.99) & (blink[:-1] < 0.99))
    assert openings >= 4 and mouth.min() == 0.0 and mouth.max() == 1.0
    assert blinks >= 4 and blink.min() == 0.0 and blink.max() == 1.0
    for name in ("yaw_deg", "roll_deg"):
        angles = np.array([values[name] for values in parameters])
        assert 2.0 < np.abs(angles).max() <= 10.0, name


def test_mediapipe_finds_the_face_in_every_measured_frame(measured):
    missing = [index for index, face in measured.items() if face is None]
    assert not missing, f"no face found in frames {missing}"


def test_measured_mouth_opening_follows_the_animation(measured, parameters):
    indices = range(0, len(parameters), 5)
    wanted = np.array([parameters[index]["mouth"] for index in indices])
    seen = np.array([mouth_opening(measured[index].points) for index in indices])
    assert np.corrcoef(wanted, seen)[0, 1] > 0.8
    assert np.median(seen[wanted == 0.0]) < 0.05  # shut means shut, not the portrait's smile
    assert seen[wanted >= 0.9].min() > 0.2


def test_measured_eye_opening_drops_on_blinks(measured, parameters):
    shut = [eye_opening(face.points) for index, face in measured.items()
            if parameters[index]["blink"] >= 0.99]
    wide = [eye_opening(face.points) for index, face in measured.items()
            if parameters[index]["blink"] == 0.0]
    assert len(shut) >= 8 and len(wide) >= 20
    assert max(shut) < min(wide)
    assert np.median(shut) < 0.5 * np.median(wide)


def test_measured_head_roll_follows_the_animation(measured, parameters):
    indices = range(0, len(parameters), 5)
    wanted = np.array([parameters[index]["roll_deg"] for index in indices])
    eye_line = [measured[index].points[LEFT_EYE_OUTER, :2] - measured[index].points[RIGHT_EYE_OUTER, :2]
                for index in indices]
    seen = np.degrees([np.arctan2(dy, dx) for dx, dy in eye_line])
    assert np.corrcoef(wanted, seen)[0, 1] > 0.9


def test_measured_head_yaw_follows_the_animation(measured, parameters):
    indices = range(0, len(parameters), 5)
    wanted = np.array([parameters[index]["yaw_deg"] for index in indices])
    rotations = [measured[index].pose[:3, :3] for index in indices]
    seen = np.degrees([np.arctan2(-rotation[2, 0], rotation[2, 2]) for rotation in rotations])
    assert np.corrcoef(wanted, seen)[0, 1] > 0.8


def test_landmark_cache_is_written_atomically_and_a_corrupt_one_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(sample_clip, "cache_dir", lambda: tmp_path)
    cached = tmp_path / sample_clip.LANDMARKS_CACHE_NAME
    cached.write_bytes(b"half a file")
    points = sample_clip.portrait_landmarks()  # recomputed with MediaPipe
    assert points.shape == (478, 3) and points.dtype == np.float32
    np.testing.assert_array_equal(np.load(cached, allow_pickle=False), points)
    assert sorted(path.name for path in tmp_path.iterdir()) == [cached.name]  # no temporary left

    # A valid cache file is used as it is, not recomputed: landmarks MediaPipe would never
    # find (the face moved by a quarter pixel) come back unchanged.
    moved = (points + np.float32(0.25)).astype(np.float32)
    np.save(cached, moved, allow_pickle=False)
    np.testing.assert_array_equal(sample_clip.portrait_landmarks(), moved)
