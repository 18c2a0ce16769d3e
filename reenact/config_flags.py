"""Command-line options made from a run configuration's fields, and ``--resume``, for the training verbs.

Every option parses to None when absent: "the configuration's default" for a new run,
"unchanged" for ``--resume``, whose saved ``RUN/config.json`` is then the starting point.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Callable

from models.errors import UserError
from training.checkpoints import CHECKPOINTS

PARSERS = {"int": int, "int | None": int, "float": float, "str": str, "str | None": str}


def add_config_options(parser: argparse.ArgumentParser, config_class, option_help: dict[str, str],
                       choices: dict[str, tuple] | None = None) -> None:
    """One ``--name`` per entry of ``option_help`` (field -> help), the field's default shown."""
    config_fields = {field.name: field for field in fields(config_class)}
    for name, help_text in option_help.items():
        field = config_fields[name]
        flag = "--" + name.replace("_", "-")
        if "(default" not in help_text:
            help_text += f" (default {field.default})"
        if field.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=PARSERS[field.type], choices=(choices or {}).get(name), default=None,
                                help=help_text)


def resolve_run_config(args: argparse.Namespace, config_class, option_help: dict[str, str], data: dict,
                       new: Callable[[dict], object]):
    """The run's configuration: ``new(given options)`` for a new run in ``args.out``, or with
    ``args.resume`` the saved one with ``data`` (where the data sets now are) and the given
    options changed; UserError for a run folder that does not fit the request."""
    given = {name: getattr(args, name) for name in option_help if getattr(args, name) is not None}
    run_dir = Path(args.out)
    if args.resume:
        if not (run_dir / "config.json").is_file():
            raise UserError(f"run {args.out}: no config.json, nothing to resume; start it without --resume")
        return config_class.read(run_dir / "config.json").resumed_with(**data, **given)
    if (run_dir / CHECKPOINTS).is_dir():
        raise UserError(f"run {args.out} already holds checkpoints: pass --resume to continue it, "
                        "or choose another --out")
    return new(given)


def finish_training(result, resume_command: str, export_name: str | None, run_dir) -> int:
    """Say how a training run ended and what to do next; the exit status (128 + signal when stopped)."""
    import signal
    import sys

    if result.stopped_by is not None:
        name = signal.Signals(result.stopped_by).name
        print(f"stopped by {name} at step {result.step}; checkpoint saved; continue with: {resume_command} --resume",
              file=sys.stderr)
        return 128 + result.stopped_by
    if export_name is not None:
        print(f"trained {run_dir} to step {result.step}; export it with: "
              f"reenact export {run_dir} --out {export_name} --quant int8")
    return 0
