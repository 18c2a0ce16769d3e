"""The kinds of model the project draws faces with: the one table every layer reads.

A model file says its kind in its metadata (``mode``); each layer maps a kind to its own
part (the live loop's stages in :mod:`realtime.pipeline`, the exporter in
:mod:`training.export`, the evaluation in ``reenact eval``) and refuses a kind it does not
know in one line (:func:`require_kind`) rather than run it as another.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.errors import UserError


@dataclass(frozen=True)
class Kind:
    """What a kind of model is, for the user."""

    name: str  # the metadata's mode, and --mode
    what: str  # "a re-enactment generator"
    train_verb: str  # the reenact verb that trains one
    default_file: str  # the shipped model of this kind, in models/
    # The kinds of model file that --mode NAME runs: a swap can be drawn by a swap model or
    # by a re-enactment generator (swap by re-enactment, realtime.reenact_swap_stages).
    runs: tuple[str, ...] = ()


KINDS = {
    "reenact": Kind("reenact", "a re-enactment generator", "train", "default_generator.tflite", ("reenact",)),
    # The swap's default is the target's own generator (swap by re-enactment): on every shared
    # driver it measured sharper and followed the expression better than the autoencoder
    # (docs/swap.md), which stays, by file or by the name "autoencoder".
    "swap": Kind("swap", "a face-swap model", "train-swap", "default_generator.tflite", ("swap", "reenact")),
}


def require_kind(kind: str, what: str = "model") -> Kind:
    """The kind named ``kind``; UserError (one line) for one this version does not know."""
    if kind not in KINDS:
        raise UserError(f"{what} of kind {kind!r}, which this version cannot run (kinds: {', '.join(KINDS)}); "
                        "is reenact older than the file?")
    return KINDS[kind]
