"""Film your own training footage from the webcam.

A countdown, then N seconds to a file with a line telling what to do next (``media.footage``), then
what the footage is still short of (``training.coverage``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from media.sources import default_camera
from models.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.mp4",
                        help="where the footage goes (H.264 in fragmented MP4: Ctrl-C or a crash keeps it)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long to record (default %(default)g; a minute of varied head poses and "
                             "talk is enough for a first model of you)")
    parser.add_argument("--source", help="camera index (default: the first webcam); a video file or 'sample' "
                                         "copies that instead")
    parser.add_argument("--countdown", type=int, default=3, metavar="SECONDS",
                        help="seconds to get ready before recording starts (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from media.footage import RecordOptions, record_footage

    source = args.source if args.source is not None else default_camera()
    if source is None:
        raise UserError("no webcam found; plug one in, or pass --source INDEX")
    report = record_footage(RecordOptions(source, args.out, args.seconds, args.countdown))
    print(report.summary())
    if report.interrupted:
        return 130
    from training.coverage import coverage_of_video

    print(coverage_of_video(args.out).summary())  # what the footage shows, and what to film again
    return 0
