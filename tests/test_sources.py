import subprocess
import sys

import cv2
import numpy as np
import pytest

from media.sources import SourceError, open_source


def test_video_file_decodes_every_frame(shared_data):
    with open_source(str(shared_data / "drivers" / "expressions_7s.mp4")) as source:
        frames = list(source)
    assert len(frames) == 216
    assert source.fps == pytest.approx(30.0, abs=0.1)
    assert frames[0].image.shape == (480, 480, 3) and frames[0].image.dtype == np.uint8
    assert [f.index for f in frames] == list(range(216))
    assert frames[30].timestamp_ms == pytest.approx(1000.0, abs=1)


def test_image_folder_and_glob(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), np.full((20, 30, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(str(tmp_path)) as source:
        values = [int(frame.image[0, 0, 0]) for frame in source]
    assert values == [0, 50, 100]
    with open_source(str(tmp_path / "frame_[12].png")) as source:
        assert len(list(source)) == 2


def test_sample_source_is_deterministic():
    with open_source("sample") as first, open_source("sample") as second:
        assert first.frame_count == 300 and first.fps == 30.0
        a, b = first.read(), second.read()
    assert np.array_equal(a.image, b.image)


@pytest.mark.parametrize("make_spec,message", [
    (lambda tmp: str(tmp / "missing.mp4"), "no such file"),
    (lambda tmp: (tmp / "text.mp4").write_text("hello") and str(tmp / "text.mp4"), "not a readable video"),
    (lambda tmp: str(tmp), "no images found"),
    (lambda tmp: "9", "no camera with index 9"),
])
def test_bad_sources_name_themselves(tmp_path, make_spec, message):
    spec = make_spec(tmp_path)
    with pytest.raises(SourceError, match=message) as raised:
        open_source(spec)
    assert spec in str(raised.value)


@pytest.mark.parametrize("spec", ["/nonexistent/clip.mp4", "9"])
def test_cli_reports_bad_sources_in_one_line_with_status_2(spec, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "reenact.cli", "landmarks", "--source", spec, "--out", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"source {spec}" in result.stderr.strip().splitlines()[-1]
