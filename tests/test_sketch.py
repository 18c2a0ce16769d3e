import numpy as np
import pytest

from models.alignment import Alignment
from models.face_topology import INNER_LIP_LOWER, LIPS_INNER
from models.sketch import COLOURS, SKETCH_VERSION, mirror_permutation, render_sketch


@pytest.fixture(scope="module")
def aligned_face(shared_data):
    """Aligned landmarks of a real frame (GRID speaker) via real MediaPipe."""
    import cv2

    from models.landmarker import FaceLandmarker, LandmarkerOptions

    capture = cv2.VideoCapture(str(shared_data / "target" / "grid_s2_pwij3p.mpg"))
    ok, frame = capture.read()
    capture.release()
    assert ok
    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        face = landmarker.detect(frame)
    assert face is not None
    return Alignment.from_landmarks(face.points, 256).apply(face.points)


def test_version_is_a_named_string():
    assert SKETCH_VERSION.startswith("landmark-sketch/")


def test_sketch_is_deterministic_and_well_formed(aligned_face):
    first = render_sketch(aligned_face, 256)
    second = render_sketch(aligned_face.copy(), 256)
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8
    assert np.array_equal(first, second)
    assert 0.02 < (first.sum(axis=2) > 0).mean() < 0.5  # lines on black, not a blank or a blob


def test_preallocated_output_is_cleared_and_reused(aligned_face):
    out = np.full((256, 256, 3), 77, np.uint8)
    result = render_sketch(aligned_face, 256, out=out)
    assert result is out
    assert np.array_equal(out, render_sketch(aligned_face, 256))


def _mouth_colour_area(sketch):
    return int(np.all(sketch == COLOURS["mouth"], axis=2).sum())


def test_open_mouth_is_an_unmistakable_filled_area(aligned_face):
    closed = aligned_face.copy()
    inner = list(LIPS_INNER)
    centre_y = closed[inner, 1].mean()
    closed[inner, 1] = centre_y  # collapse the inner lips: a shut mouth
    opened = aligned_face.copy()
    lower = [i for i in inner if aligned_face[i, 1] > centre_y] + [INNER_LIP_LOWER]
    opened[lower, 1] += 25  # drop the lower inner lip: an open mouth
    assert _mouth_colour_area(render_sketch(closed, 256)) < 30
    assert _mouth_colour_area(render_sketch(opened, 256)) > 400


def test_mirrored_landmarks_draw_the_mirrored_sketch(aligned_face):
    """Flip augmentation is consistent: the sketch of a mirrored face is the flipped sketch."""
    mirrored = aligned_face.copy()
    mirrored[:, 0] = 255 - mirrored[:, 0]
    mirrored = mirrored[mirror_permutation()]
    flipped = render_sketch(aligned_face, 256)[:, ::-1]
    redrawn = render_sketch(mirrored, 256)
    differing = np.abs(flipped.astype(int) - redrawn.astype(int)).max(axis=2) > 60
    assert differing.mean() < 0.01  # only anti-aliasing differs


def test_mirror_permutation_is_an_involution():
    permutation = mirror_permutation()
    assert np.array_equal(permutation[permutation], np.arange(478))
    assert permutation[33] == 263 and permutation[468] == 473


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="478"):
        render_sketch(np.zeros((10, 2)), 256)
    with pytest.raises(ValueError, match="uint8"):
        render_sketch(np.zeros((478, 2)), 64, out=np.zeros((64, 64, 3), np.float32))
