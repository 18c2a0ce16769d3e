"""Recordings: H.264 in fragmented MP4 that a crash cannot wipe out, and what ``verify`` says of a cut one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media.recording import Recording, RecordingError, recording_finished
from provenance.label import label_present
from tests.fakes import decode_video

REPOSITORY = Path(__file__).resolve().parents[1]


def _moving_frames(count, width, height):
    frames = []
    for index in range(count):
        frame = np.full((height, width, 3), 40, np.uint8)
        cv2.circle(frame, (10 + 3 * index % (width - 20), height // 2), 8, (0, 200, 255), -1)
        frames.append(frame)
    return frames


@pytest.mark.parametrize("width, height", [(96, 64), (97, 63)])  # odd sides are padded to even ones
def test_a_recording_is_h264_yuv420p_and_reads_back_whole(tmp_path, width, height):
    path = tmp_path / "clip.mp4"
    frames = _moving_frames(45, width, height)
    recording = Recording(path, width, height, 30.0)
    for frame in frames:
        recording.write(frame)
    assert recording_finished(path) is False  # fragments written, no closing index yet
    recording.close()
    recording.close()  # twice is harmless
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (width + width % 2, height + height % 2)
    decoded = decode_video(path)
    assert len(decoded) == 45
    error = np.abs(decoded[20][:height, :width].astype(int) - frames[20].astype(int)).mean()
    assert error < 3  # visually the same frame
    assert recording_finished(path) is True


def test_a_recording_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(RecordingError, match="recordings are"):
        Recording(tmp_path / "clip.gif", 64, 64, 30.0)
    recording = Recording(tmp_path / "clip.mp4", 64, 64, 30.0)
    with pytest.raises(RecordingError, match="expected 64x64"):
        recording.write(np.zeros((32, 64, 3), np.uint8))
    recording.close()
    assert recording_finished(tmp_path / "absent.mp4") is None
    (tmp_path / "text.mp4").write_text("no video")
    assert recording_finished(tmp_path / "text.mp4") is None


_PACED_WRITER = """
import sys, time
import numpy as np
from realtime.sinks import FileSink
sink = FileSink(sys.argv[1])
sink.open(128, 128, 30.0)
start = time.perf_counter()
for index in range(100000):
    frame = np.full((128, 128, 3), index % 200, np.uint8)
    sink.send(frame)
    print(index + 1, flush=True)  # sent to the file: what a kill may not take away
    time.sleep(max(0.0, start + (index + 1) / 30.0 - time.perf_counter()))
"""


def test_kill_9_mid_recording_loses_at_most_a_moment(tmp_path):
    """The file sink, paced at 30 fps and killed with SIGKILL ten seconds in."""
    path = tmp_path / "killed.mp4"
    process = subprocess.Popen([sys.executable, "-c", _PACED_WRITER, str(path)], cwd=REPOSITORY,
                               env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, stdout=subprocess.PIPE, text=True)
    written, deadline = 0, None
    for line in process.stdout:
        written = int(line)
        deadline = deadline or time.monotonic() + 10.0  # ten seconds after the first frame
        if time.monotonic() >= deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert written >= 150  # about 300 at 30 fps, fewer on a loaded machine
    readable = len(decode_video(path))
    assert readable >= 0.9 * written, (readable, written)
    assert recording_finished(path) is False


def test_a_live_recording_killed_is_readable_marked_and_said_to_be_unfinished(tiny_generators, tmp_path):
    """``reenact live --loop`` killed with SIGKILL: ``reenact verify`` finds the mark and says why it is unsigned."""
    out = tmp_path / "live.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    process = subprocess.Popen([sys.executable, "-m", "reenact.cli", "live", "--source", "sample", "--loop",
                                "--model", str(tiny_generators["int8"]), "--output", str(out), "--size", "256"],
                               cwd=REPOSITORY, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while (not out.exists() or out.stat().st_size < 50_000) and time.monotonic() < deadline:
            time.sleep(0.2)  # a few fragments, i.e. a second or more of frames
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    frames = decode_video(out)
    assert len(frames) >= 10 and all(label_present(frame) for frame in frames)
    result = subprocess.run([sys.executable, "-m", "reenact.cli", "verify", str(out)], cwd=REPOSITORY, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "watermark detected" in result.stdout
    assert "missing, because the recording did not finish" in result.stdout
