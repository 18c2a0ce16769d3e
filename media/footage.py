"""``reenact record``: film your own training footage, for a swap or re-enactment model of you.

A model learns only the faces it is shown, so the recording comes with a note to turn the
head and talk, and a countdown to get ready. The footage is real, so it carries no
SYNTHETIC label: it is the input of ``reenact prepare``, never the output of the tool. It
is written as the live loop's recordings are (:class:`media.recording.Recording`), so
Ctrl-C or a crash keeps every frame up to the last quarter second.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.options import require

ADVICE = ("keep your face in the middle of the picture, the light in front of you; "
          "do what each line says while it records")
# What to do, and from which share of the recording on: the ranges a generator must see to
# draw them (training.coverage lists the same, and says afterwards what is still missing).
STEPS = (
    (0.0, "look at the camera and talk"),
    (0.15, "turn your head slowly left and right, about 15 degrees each way"),
    (0.35, "nod: look a little up, then a little down"),
    (0.5, "open your mouth wide (a yawn, an 'O'), then smile broadly"),
    (0.65, "raise your eyebrows, then frown"),
    (0.75, "blink, and close your eyes for a moment"),
    (0.85, "talk again, moving your head naturally"),
)


@dataclass(frozen=True)
class RecordOptions:
    """What to record and for how long."""

    source: str  # camera index, or a file/folder/'sample' (e.g. to test)
    out: Path
    seconds: float = 60.0
    countdown: int = 3  # seconds to get ready, announced one by one

    def __post_init__(self):
        require(self.seconds > 0, f"--seconds {self.seconds}", "a positive number of seconds")
        require(isinstance(self.countdown, int) and self.countdown >= 0, f"--countdown {self.countdown}",
                "a whole number of seconds >= 0")
        from media.recording import SUFFIXES

        require(Path(self.out).suffix.lower() in SUFFIXES, f"--out {self.out}", f"a {', '.join(SUFFIXES)} file")


@dataclass(frozen=True)
class RecordReport:
    """What ``record`` wrote."""

    path: Path
    frames: int
    seconds: float  # media time recorded
    interrupted: bool

    def summary(self) -> str:
        ending = "stopped by Ctrl-C; " if self.interrupted else ""
        return (f"{ending}wrote {self.path}: {self.frames} frames, {self.seconds:.1f} s; next: "
                f"reenact prepare {self.path} --out data/me")


def record_footage(options: RecordOptions, log: Callable[[str], None] = print,
                   sleep: Callable[[float], None] = time.sleep) -> RecordReport:
    """Count down, then copy ``options.seconds`` of the source into ``options.out``."""
    from tqdm import tqdm

    from media.recording import Recording
    from media.sources import SourceError, open_source

    options.out.parent.mkdir(parents=True, exist_ok=True)
    recording, frames, seconds, interrupted = None, 0, 0.0, False
    with open_source(options.source) as source:
        log(ADVICE)
        for remaining in range(options.countdown, 0, -1):
            log(f"recording in {remaining} ...")
            sleep(1.0)
        bar = tqdm(total=round(options.seconds, 1), unit="s", desc="recording", leave=False,
                   disable=not sys.stderr.isatty(), bar_format="{desc}: {n:.1f}/{total:.1f} s {bar}")

        def say(text: str) -> None:  # above the progress bar where there is one
            log(text) if bar.disable else bar.write(text, file=sys.stderr)

        start_ms = None
        steps = list(STEPS)
        try:
            for frame in source:
                start_ms = frame.timestamp_ms if start_ms is None else start_ms
                elapsed = (frame.timestamp_ms - start_ms) / 1000.0
                if elapsed >= options.seconds:
                    break
                while steps and elapsed >= steps[0][0] * options.seconds:
                    say(f"{elapsed:3.0f} s: {steps.pop(0)[1]}")
                if recording is None:  # the first frame gives the size
                    height, width = frame.image.shape[:2]
                    recording = Recording(options.out, width, height, source.fps)
                recording.write(frame.image)
                frames += 1
                seconds = elapsed + 1.0 / source.fps
                bar.update(round(min(seconds, options.seconds) - bar.n, 3))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
            if recording is not None:
                recording.close()
    if recording is None:
        raise SourceError(f"source {options.source}: gave no frame to record")
    return RecordReport(options.out, frames, min(seconds, options.seconds), interrupted)

