"""``reenact <verb>``: the one command-line entry point.

Each verb is a thin module in :mod:`reenact.commands`: ``add_arguments(parser)`` for its
flags and ``run(args) -> int``, which builds a frozen configuration and makes one library
call. Verb modules keep heavy imports (TensorFlow above all) out of import time, so
``reenact --help`` is quick and the live loop never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from models.errors import UserError

# verb -> one-line help; the verb's module is reenact.commands.<verb> (with _ for -).
VERBS = {
    "setup": "install the landmarker model and a local signing identity (make does this once)",
    "record": "film your own training footage from the webcam (countdown, then N seconds to a file)",
    "landmarks": "run the face front-end over a source and write a frame | crop | sketch video",
    "prepare": "turn target videos into aligned crops, landmarks and sketches",
    "train": "train the pix2pix generator on a prepared data set",
    "train-swap": "train the face-swap autoencoder on two prepared data sets: A (you) and B (the target)",
    "train-enhancer": "train the face enhancer on sharp portraits: live-soft faces restored at twice the size",
    "export": "export a trained generator to TFLite with metadata",
    "eval": "measure a generator on a data set's validation split, or on a driver clip",
    "live": "run the live loop: source to labelled synthetic face",
    "studio": "the live loop in a page you can click: preview, figures, source, model, outputs, gains",
    "bench": "measure frame rate, latency and variants",
    "verify": "say whether an image or video carries the invisible watermark, and whose",
}


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False everywhere: "--mode" must never be read as "--model".
    parser = argparse.ArgumentParser(
        prog="reenact", allow_abbrev=False,
        description="Real-time face re-enactment: a target's face follows yours, labelled SYNTHETIC.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for verb, help_text in VERBS.items():
        module = importlib.import_module(f"reenact.commands.{verb.replace('-', '_')}")
        verb_parser = subparsers.add_parser(verb, help=help_text, description=help_text, allow_abbrev=False)
        module.add_arguments(verb_parser)
        verb_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"reenact {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"reenact {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
