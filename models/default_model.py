"""Where the shipped default generator lives (trained on the GRID corpus; see MODEL_CARD.md)."""

from __future__ import annotations

from pathlib import Path

from models.errors import UserError
from models.kinds import KINDS, require_kind

MODELS = Path(__file__).resolve().parent
DEFAULT_GENERATOR = MODELS / KINDS["reenact"].default_file
# The same target and recipe at base width 16: about 3 ms less a frame, for a 60 fps camera
# (MODEL_CARD.md); ``--model fast`` picks it.
FAST_GENERATOR = MODELS / "fast_generator.tflite"
# The shipped face-swap model: GRID speaker s1's face on free-to-use faces (MODEL_CARD.md).
DEFAULT_SWAP = MODELS / "default_swap.tflite"
SHIPPED_NAMES = {"fast": FAST_GENERATOR, "autoencoder": DEFAULT_SWAP}  # --model NAME
# The shipped face enhancer: detail learnt from sharp portraits (MODEL_CARD.md).
DEFAULT_ENHANCER = MODELS / "default_enhancer.tflite"


def enhancer_path(enhance: bool, enhancer: Path | None = None) -> Path | None:
    """The enhancer to run: None with ``enhance`` off, else ``enhancer`` or the shipped one."""
    if not enhance:
        if enhancer is not None:
            raise UserError(f"--enhancer {enhancer} with --no-enhance: pass one or the other")
        return None
    if enhancer is not None:
        return Path(enhancer)
    if not DEFAULT_ENHANCER.is_file():
        raise UserError(f"the shipped enhancer {DEFAULT_ENHANCER} is missing; reinstall reenact, pass "
                        "--enhancer ENHANCER.tflite (made by `reenact export`), or --no-enhance")
    return DEFAULT_ENHANCER


def generator_path(model: Path | None, mode: str = "reenact") -> Path:
    """``model``, the shipped model of ``mode`` where none is given (``models.kinds``: the
    generator for both; with "swap" it swaps by re-enactment), or a shipped one by name
    (``fast``: :data:`FAST_GENERATOR`, ``autoencoder``: :data:`DEFAULT_SWAP`) where no file
    of that name exists; UserError where a shipped one is missing.

    A given file is checked where it is loaded (:func:`models.generator_contract.load_generator_file`).
    """
    if model is not None and (Path(model).exists() or str(model) not in SHIPPED_NAMES):
        return Path(model)
    if model is not None:
        shipped = SHIPPED_NAMES[str(model)]
    else:
        shipped = MODELS / require_kind(mode, "--mode").default_file
    if not shipped.is_file():
        raise UserError(f"the shipped model {shipped} is missing; reinstall reenact or pass "
                        "--model MODEL.tflite (made by `reenact export`)")
    return shipped
