"""``reenact studio``: the real live loop behind the page, driven over HTTP as the page drives it.

Each control is posted exactly as the page's script posts it, and what changed is read back
from the preview, the status and the files: a model switch changes the faces, a recording
plays, a missing virtual camera says how to set one up, the label is on every preview.
"""

import json
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from provenance.label import label_present
from tests.fakes import decode_video

pytestmark = pytest.mark.slow


@pytest.fixture
def studio(tmp_path):
    from realtime.studio import Studio, StudioSettings
    from realtime.studio_server import make_server

    studio = Studio(StudioSettings(source="sample"), save_to=tmp_path / "studio.json")
    server = make_server(studio, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    studio.start()
    yield studio, f"http://127.0.0.1:{server.server_address[1]}"
    server.stopping.set()
    server.shutdown()
    studio.stop()


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.headers["Content-Type"], reply.read()


def _post(url: str, action: str, value=None) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/control", data=json.dumps({"action": action, "value": value}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _frames(studio, count: int = 15, timeout: float = 90.0) -> None:
    """Wait until the loop has shown ``count`` more frames."""
    target = studio.preview.frames + count
    deadline = time.monotonic() + timeout
    while studio.preview.frames < target:
        assert time.monotonic() < deadline, f"{studio.preview.frames} frames shown; messages: {studio.messages}"
        studio.preview.wait(studio.preview.frames, 1.0)


def _preview(url: str) -> np.ndarray:
    status, kind, body = _get(url + "/preview.jpg")
    assert status == 200 and kind == "image/jpeg"
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)


def test_the_page_shows_a_labelled_preview_and_the_loops_figures(studio):
    studio, url = studio
    status, kind, page = _get(url + "/")
    assert status == 200 and kind.startswith("text/html")
    for control in (b'id="calibrate"', b'id="model"', b'id="virtualcam"', b'id="record"', b'src="/stream"'):
        assert control in page
    _frames(studio, 30)
    image = _preview(url)
    assert label_present(image)
    figures = json.loads(_get(url + "/status")[2])
    assert figures["running"] and figures["fps"] > 5 and figures["frames_out"] >= 30
    assert "generator" in figures["stages_ms"] and figures["latency_ms"]["p50"] > 0
    assert figures["model"].startswith("re-enactment (default): default_generator.tflite, mode reenact; "
                                       "Trained on GRID")
    assert figures["settings"]["source"] == "sample" and figures["outputs"] == ["preview"]
    # The stream: one JPEG part per new frame.
    with urllib.request.urlopen(url + "/stream", timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        head = stream.read(200)
    assert head.startswith(b"--reenactframe\r\nContent-Type: image/jpeg")


def test_in_a_real_browser_the_page_fills_in_the_figures_and_the_choices(studio, tmp_path):
    from realtime.studio_browser import browser, render_page

    if browser() is None:
        pytest.skip("no chromium on this machine (make test installs it where it can: apt-get install chromium)")
    studio, url = studio
    _frames(studio, 30)
    screenshot = tmp_path / "page.png"
    dom = render_page(url + "/", screenshot)
    # The page's own script polled /status and filled the figures and the menus.
    assert " fps " in dom and "latency p50" in dom and "ms: landmarks" in dom
    assert '<option value="autoencoder">swap, autoencoder</option>' in dom
    assert '<option value="sample">sample (built in)</option>' in dom
    image = cv2.imread(str(screenshot))
    assert image is not None and image.shape[:2] == (960, 1180)
    preview = image[60:700, 16:656]  # where the page shows the preview: the streamed frame, labelled
    assert label_present(preview)


def test_a_model_switch_changes_the_face_and_a_bad_model_leaves_it_running(studio, tmp_path):
    studio, url = studio
    _frames(studio)
    before = cv2.resize(_preview(url), (256, 256)).astype(np.int16)
    status, figures = _post(url, "model", "autoencoder")  # a swap: the driver's own frame, s1's face on it
    assert status == 200 and "swap, autoencoder" in figures["model"] and "mode swap" in figures["model"]
    _frames(studio)
    after = _preview(url)
    assert label_present(after)
    after = cv2.resize(after, (256, 256)).astype(np.int16)
    # Re-enactment shows s1 before his blue backdrop; the swap, the sample's own portrait.
    assert np.abs(before - after).mean() > 20

    not_a_model = tmp_path / "notes.tflite"
    not_a_model.write_text("not a model")
    status, reply = _post(url, "model", str(not_a_model))
    assert status == 400 and "\n" not in reply["error"] and str(not_a_model) in reply["error"]
    _frames(studio, 5)  # still running, with the model it had
    assert "autoencoder" in json.loads(_get(url + "/status")[2])["model"]


def test_recording_from_the_page_writes_a_playable_labelled_file(studio, tmp_path):
    studio, url = studio
    out = tmp_path / "clip.mp4"
    status, figures = _post(url, "record", str(out))
    assert status == 200 and figures["settings"]["recording"] == str(out) and str(out) in figures["outputs"]
    _frames(studio, 30)
    status, figures = _post(url, "record", "")
    assert status == 200 and figures["settings"]["recording"] is None
    frames = decode_video(out)
    assert len(frames) >= 20 and all(label_present(frame) for frame in frames)
    assert any(f"recorded {out}" in message["text"] for message in figures["messages"])
    (tmp_path / "a_file").write_text("")
    status, reply = _post(url, "record", str(tmp_path / "a_file" / "clip.mp4"))
    assert status == 400 and "cannot make its folder" in reply["error"]


def test_a_missing_virtual_camera_says_how_to_set_one_up_and_the_preview_goes_on(studio):
    import platform

    from realtime.sinks import VIRTUALCAM_SETUP
    from realtime.studio import cameras

    studio, url = studio
    if any("loopback" in name.lower() or "reenact" in name.lower() for _, name in cameras()):
        pytest.skip("this machine has a virtual camera device")
    status, _ = _post(url, "virtualcam", True)
    assert status == 200
    _frames(studio, 10)  # the preview goes on without it
    messages = [message["text"] for message in json.loads(_get(url + "/status")[2])["messages"]]
    hint = VIRTUALCAM_SETUP if platform.system() == "Linux" else "OBS Studio"
    assert any(text.startswith("virtual camera: none available") and hint in text for text in messages), messages


def test_the_virtual_camera_size_and_the_window_are_outputs_the_page_can_choose(studio, monkeypatch):
    import realtime.studio

    studio, url = studio
    status, figures = _post(url, "camera_size", "1920x1080")
    assert status == 200 and figures["settings"]["camera_size"] == [1920, 1080]
    status, figures = _post(url, "virtualcam", True)
    assert "virtualcam 1920x1080" in figures["outputs"]
    status, reply = _post(url, "camera_size", "1000x1000")
    assert status == 400 and "1280x720" in reply["error"]
    monkeypatch.setattr(realtime.studio, "display_available", lambda: False)
    status, reply = _post(url, "window", True)
    assert status == 400 and "no display" in reply["error"]
    _frames(studio, 5)  # the refusals left the loop running


def test_live_controls_apply_at_once_and_settings_are_remembered_until_reset(studio, tmp_path):
    from realtime.studio import StudioSettings

    studio, url = studio
    _frames(studio)
    loops_stats = studio.stats  # a restart would make new ones
    for action, value in (("pose_gain", 0.5), ("expression_gain", 0.0), ("enhance", False), ("calibrate", None),
                          ("layout", None)):
        status, _ = _post(url, action, value)
        assert status == 200, action
    assert studio.stats is loops_stats  # none of these restarted the loop
    assert studio.controls.motion_scales() == (0.5, 0.0) and not studio.controls.enhance
    saved = StudioSettings.load(tmp_path / "studio.json")
    assert (saved.pose_gain, saved.expression_gain, saved.enhance, saved.layout) == (0.5, 0.0, False, "side-by-side")
    status, reply = _post(url, "pose_gain", 0.7)
    assert status == 400 and "expected one of" in reply["error"]
    status, figures = _post(url, "reset")
    assert status == 200 and figures["settings"]["pose_gain"] == 1.0 and figures["settings"]["enhance"] is True
    assert StudioSettings.load(tmp_path / "studio.json") == StudioSettings()
    status, _ = _post(url, "quit")
    assert status == 200 and studio.quit_requested.is_set()


def test_unreadable_settings_fall_back_to_the_defaults(tmp_path):
    from realtime.studio import StudioSettings

    path = tmp_path / "studio.json"
    path.write_text("{not json")
    assert StudioSettings.load(path) == StudioSettings()
    path.write_text(json.dumps({"pose_gain": 0.5, "recording": "x.mp4", "from_the_future": 1}))
    assert StudioSettings.load(path) == StudioSettings(pose_gain=0.5)  # never resumes a recording


def test_the_command_refuses_a_missing_models_folder(tmp_path, capsys):
    from reenact.cli import main

    assert main(["studio", "--models", str(tmp_path / "absent"), "--no-open"]) == 2
    assert "no such folder" in capsys.readouterr().err
