"""``reenact <verb>``: the one command-line entry point.

Each verb lives in its own module that exposes ``add_arguments(parser)`` and
``run(args) -> int``. Verb modules keep heavy imports (TensorFlow above all) inside
``run``, so ``reenact --help`` is instant and the live loop never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from models.errors import UserError

# verb -> (module, one-line help)
VERBS = {
    "landmarks": ("realtime.landmarks_command", "run the face front-end over a source and write frame | crop | sketch video"),
    "prepare": ("training.prepare", "turn target videos into aligned crops, landmarks and sketches"),
    "train": ("training.train", "train the pix2pix generator on a prepared data set"),
    "export": ("training.export", "export a trained generator to TFLite with metadata"),
    "eval": ("reenact.eval_command", "measure a generator on a data set's validation split, or on a driver clip"),
    "live": ("realtime.live_command", "run the live loop: source to labelled synthetic face"),
    "bench": ("benchmarks.bench_command", "measure frame rate, latency and variants"),
    "verify": ("realtime.verify_command", "say whether an image or video carries the invisible watermark, and whose"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reenact",
        description="Real-time face re-enactment: a target's face follows yours, labelled SYNTHETIC.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for verb, (module_name, help_text) in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                continue  # verb not built yet
            raise
        verb_parser = subparsers.add_parser(verb, help=help_text, description=help_text)
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
