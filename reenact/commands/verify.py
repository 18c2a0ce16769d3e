"""Say whether an image or video carries the invisible watermark, which model drew it, and its credentials."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.files import write_json
from provenance.verify import describe_all, verify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="an image or a video file")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the report here")


def run(args: argparse.Namespace) -> int:
    report = verify(args.path)
    print("\n".join(describe_all(report)))
    if args.json is not None:
        write_json(args.json, report)
    return 0
