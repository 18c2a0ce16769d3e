"""``reenact record``: a countdown, then N seconds of the source in a recording that plays."""

import pytest

from media.footage import STEPS, RecordOptions, record_footage
from media.sources import SampleSource
from models import metrics
from reenact.cli import main
from tests.fakes import decode_video


def test_records_the_asked_seconds_of_the_source_after_a_countdown(tmp_path, capsys):
    out = tmp_path / "me.mp4"
    messages, pauses = [], []
    report = record_footage(RecordOptions("sample", out, seconds=2.0, countdown=3), messages.append, pauses.append)
    fps = SampleSource().fps
    assert report.frames == round(2.0 * fps) and not report.interrupted
    assert report.seconds == pytest.approx(2.0)
    assert messages[1:4] == ["recording in 3 ...", "recording in 2 ...", "recording in 1 ..."]
    assert "middle of the picture" in messages[0] and pauses == [1.0, 1.0, 1.0]
    # While it records, what to do next, each at its share of the time.
    assert [message.split(": ", 1)[1] for message in messages[4:]] == [what for _, what in STEPS]
    assert [float(message.split(" s:")[0]) for message in messages[4:]] == [
        round(share * 2.0) for share, _ in STEPS]
    frames = decode_video(out)
    assert len(frames) == report.frames
    # The footage is the source's own frames (H.264 at visually lossless quality), unlabelled.
    source = SampleSource()
    for index, frame in enumerate(frames):
        original = source.read().image
        assert metrics.psnr(frame, original) > 30, index

    import av

    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_ctrl_c_keeps_what_was_recorded(tmp_path, monkeypatch):
    import media.sources

    class Interrupted(SampleSource):
        def read(self):
            if self._index == 10:
                raise KeyboardInterrupt
            return super().read()

    monkeypatch.setattr(media.sources, "open_source", lambda spec: Interrupted())
    out = tmp_path / "cut.mp4"
    report = record_footage(RecordOptions("sample", out, seconds=60, countdown=0), lambda message: None)
    assert report.interrupted and report.frames == 10
    assert len(decode_video(out)) == 10
    assert "Ctrl-C" in report.summary()


@pytest.mark.parametrize("flags, message", [
    (["--seconds", "0"], "positive number of seconds"),
    (["--countdown", "-1"], "seconds >= 0"),
    (["--out", "OUT/me.txt"], ".mp4"),
    (["--source", "OUT/absent.mp4"], "no such file"),
])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys, flags, message):
    flags = [flag.replace("OUT", str(tmp_path)) for flag in flags]
    defaults = {"--out": str(tmp_path / "me.mp4"), "--source": "sample", "--countdown": "0"}
    for flag in flags[::2]:
        defaults.pop(flag, None)
    argv = ["record", *flags, *[item for pair in defaults.items() for item in pair]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "me.mp4").exists()


def test_the_verb_writes_the_file_and_says_what_is_next(tmp_path, capsys):
    out = tmp_path / "me.mp4"
    assert main(["record", "--source", "sample", "--seconds", "1", "--countdown", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"reenact prepare {out}" in printed
    # Then what the footage is short of: the sample is a portrait that never turns or nods.
    assert "coverage of 10 frames" in printed and "turn your head" in printed and "nod" in printed
    assert len(decode_video(out)) == round(SampleSource().fps)

