"""The resolved training configuration, saved as ``RUN/config.json``.

The file describes the run completely: ``load_generator`` rebuilds the generator from it
alone, and ``--resume`` continues with it, so a checkpoint never needs the original
command line.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

from models.errors import UserError
from models.generator_recipe import SHIPPED, SHIPPED_DISCRIMINATOR_WIDTH, UPSAMPLE_MODES
from models.sketch import SKETCH_VERSION

PRECISIONS = ("float32", "mixed_bfloat16")

# Settings that ``--resume`` may change: where the data now lives and the schedule (e.g.
# train longer). Everything else defines the network or its data order and stays fixed.
RESUMABLE_FIELDS = ("data", "steps", "save_every", "validate_every", "log_every")


class RunConfig:
    """What every training run's configuration shares: ``RUN/config.json`` and ``--resume``.

    Subclasses are frozen dataclasses naming the fields ``--resume`` may change in
    ``RESUMABLE`` and, for a kind of run other than pix2pix, their ``MODE``.
    """

    RESUMABLE: tuple = ()
    MODE: str = "reenact"
    # Settings added after runs were saved without them, and what those runs did instead.
    BEFORE: dict = {}

    def require_positive(self, *names: str) -> None:
        """UserError unless each named field is a positive integer."""
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"got {name} {value!r}, expected a positive integer")

    def resumed_with(self, **changes):
        """A copy for ``--resume``; refuses changes to anything but the resumable fields."""
        others = sorted(name for name, value in changes.items()
                        if name not in self.RESUMABLE and value != getattr(self, name))
        if others:
            raise UserError(f"cannot change {', '.join(others)} of an existing run; "
                            f"only {', '.join(self.RESUMABLE)} may change with --resume")
        return replace(self, **changes)

    def to_json(self) -> str:
        data = asdict(self)
        if self.MODE != "reenact":
            data["mode"] = self.MODE
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "config.json"):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise UserError(f"{source}: not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a JSON object")
        mode = data.pop("mode", "reenact")
        if mode != cls.MODE:
            verb = {"swap": "train-swap", "enhance": "train-enhancer"}.get(mode, "train")
            raise UserError(f"{source}: a {mode} run, made by `reenact {verb}`; use that verb (or its export) on it")
        data = {**cls.BEFORE, **data}
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{source}: unknown settings {', '.join(unknown)} "
                            f"(written by a newer version of reenact?)")
        missing = sorted(field.name for field in fields(cls)
                         if field.name not in data and field.default is MISSING)
        if missing:
            raise UserError(f"{source}: names no {', '.join(missing)}")
        return cls(**data)

    @classmethod
    def read(cls, path: Path):
        if not path.is_file():
            raise UserError(f"{path}: no such file; is {path.parent} a training run folder?")
        return cls.from_json(path.read_text(), str(path))


@dataclass(frozen=True)
class TrainConfig(RunConfig):
    """Everything that defines a pix2pix training run."""

    RESUMABLE = RESUMABLE_FIELDS
    BEFORE = {"init": None}  # runs saved before warm starts began from random weights

    data: str  # the prepared data set (folder with manifest.json)
    # A generator file (.tflite) whose weights start the run (training.warm_start), or None
    # for pix2pix's random ones; the file fixes the network's shape.
    init: str | None = None
    # The network: the shipped model's unless asked otherwise (models.generator_recipe).
    size: int = SHIPPED.size
    width: int = SHIPPED.width
    depth: int | None = SHIPPED.depth
    upsample: str = SHIPPED.upsample
    dropout: float = SHIPPED.dropout
    appearance: bool = SHIPPED.appearance  # a real photo of the target as a second input
    discriminator_width: int = SHIPPED_DISCRIMINATOR_WIDTH
    batch: int = 4
    # The shipped recipe (MODEL_CARD.md, with its training time); checkpoints every 100
    # steps bound what a crash can lose.
    steps: int = 1500
    save_every: int = 100
    validate_every: int = 250
    log_every: int = 25
    learning_rate: float = 2e-4
    beta1: float = 0.5
    l1_weight: float = 100.0
    # The lip region's own L1 term, relative to the whole image's: the lips cover ~3% of
    # the crop, so plain L1 barely notices lips that part when the sketch's are shut
    # (1.0 gives the lip region as much weight as the rest of the image). It counts only
    # after ``mouth_from`` steps: on the GRID target, trained with it from the start, the
    # faces showed streaks on a new driver; switched on for the last 400 steps, it fixed
    # the mouth and the streaks stayed away (MODEL_CARD.md).
    mouth_weight: float = 1.0
    mouth_from: int = 1100
    # Off by default: the sketch is mirror-consistent, but a single target's face is not
    # symmetric (hair parting, moles), so mirrored photos blur identity details.
    flip: bool = False
    # float32: without AVX-512 BF16 or AMX, mixed_bfloat16 is far slower on a CPU (docs/training.md).
    precision: str = "float32"
    seed: int = 0
    sketch_version: str = SKETCH_VERSION

    def __post_init__(self):
        self.require_positive("size", "width", "discriminator_width", "batch", "steps", "save_every",
                              "validate_every", "log_every")
        if not isinstance(self.mouth_from, int) or self.mouth_from < 0:
            raise UserError(f"got mouth_from {self.mouth_from!r}, expected a step number >= 0")
        if self.depth is not None and (not isinstance(self.depth, int) or self.depth < 1):
            raise UserError(f"got depth {self.depth!r}, expected a positive integer or none")
        if self.size % 32 != 0:
            raise UserError(f"got size {self.size}, expected a multiple of 32 (e.g. 64, 128, 256)")
        if self.upsample not in UPSAMPLE_MODES:
            raise UserError(f"got upsample {self.upsample!r}, expected one of {', '.join(UPSAMPLE_MODES)}")
        if self.precision not in PRECISIONS:
            raise UserError(f"got precision {self.precision!r}, expected one of {', '.join(PRECISIONS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"got dropout {self.dropout}, expected 0 <= dropout < 1")
        if self.learning_rate <= 0 or not 0.0 <= self.beta1 < 1.0 or self.l1_weight < 0 or self.mouth_weight < 0:
            raise UserError("expected learning_rate > 0, 0 <= beta1 < 1, l1_weight >= 0 and mouth_weight >= 0")

    def mouth_weight_at(self, step: int) -> float:
        """The lip term's weight for training step ``step`` (1-based): off until ``mouth_from``."""
        return self.mouth_weight if step > self.mouth_from else 0.0

    def generator_options(self) -> dict:
        """Keyword arguments of ``models.networks.build_generator`` for this run."""
        return {"size": self.size, "width": self.width, "depth": self.depth,
                "upsample": self.upsample, "dropout": self.dropout, "appearance": self.appearance}



@dataclass(frozen=True)
class SwapConfig(RunConfig):
    """Everything that defines a face-swap training run (``reenact train-swap``)."""

    RESUMABLE = ("data_a", "data_b", "steps", "save_every", "validate_every", "log_every")
    MODE = "swap"
    BEFORE = {"colour": 0.0, "face_only": False}  # the first swap runs: the whole crop, its own colours

    data_a: str  # the prepared faces of A, the driver side (the user)
    data_b: str  # the prepared faces of B, the target whose face is drawn
    size: int = 128
    width: int = 32
    code: int = 256  # the shared bottleneck's width
    decoder_width: int | None = None  # the decoders' own base width (None: width)
    # The shipped recipe (MODEL_CARD.md): batch 16 took 1.1 s a step on 2 cores, batch 8 0.45 s.
    batch: int = 8  # faces of each identity per step
    steps: int = 4000
    save_every: int = 200
    validate_every: int = 500
    log_every: int = 50
    learning_rate: float = 5e-4
    # Loss inside the face mask: L1 plus ssim_weight * (1 - SSIM) / 2, with eyes, brows and
    # lips weighed 1 + feature_weight times (they carry expression and identity but little area).
    ssim_weight: float = 1.0
    feature_weight: float = 2.0
    # Augmentation, the same for a face and its target: rotation (degrees), scale and shift
    # (share of the crop), mirror; then a random smooth warp of the input alone, which the
    # decoder must undo (faceswap's random_warp), so it learns faces rather than pixels.
    rotation: float = 10.0
    scale: float = 0.05
    shift: float = 0.05
    flip: bool = True
    warp: float = 0.02
    # The input alone, too: each colour channel scaled by 1 +- colour and the whole face by
    # 1 +- colour (white balance and exposure), so that a driver's skin tone and light do not
    # select the code; the decoder must still draw its identity's own colours.
    colour: float = 0.2
    # Faces drawn for a batch: 0 uniformly; 1 as often with each mouth opening (bins of
    # MOUTH_BIN) as with any other. s1 keeps his mouth nearly shut on most frames (median
    # opening 0.01, 90th percentile 0.19), so uniformly B's decoder rarely draws an open one.
    mouth_balance: float = 0.0
    # Faces whose mouth is open (inner-lip gap at least JAW_DROP_FROM of the inter-ocular
    # distance) have, half the time, their lower lip and chin dropped by up to jaw_drop
    # inter-ocular distances (models.column_warp.drop_jaw), input and target alike: s1 never
    # opens wider than 0.35, a driver's yawn reaches 0.5, and neither decoder can draw a
    # mouth wider than any it was shown.
    jaw_drop: float = 0.0
    # The encoder sees the face alone, mid-grey beyond it (models.swap_mask.face_only); the
    # export records it as architecture "input": "face" and the live loop does the same.
    face_only: bool = True
    seed: int = 0
    sketch_version: str = SKETCH_VERSION  # the front end (alignment) the crops come from

    def __post_init__(self):
        self.require_positive("size", "width", "code", "batch", "steps", "save_every", "validate_every", "log_every")
        if self.decoder_width is not None:
            self.require_positive("decoder_width")
        if self.size < 64 or self.size % 16:
            raise UserError(f"got size {self.size}, expected a multiple of 16 of at least 64 (e.g. 128)")
        if self.learning_rate <= 0 or min(self.ssim_weight, self.feature_weight, self.rotation, self.scale,
                                          self.shift, self.warp, self.colour, self.jaw_drop) < 0:
            raise UserError("expected learning_rate > 0 and no negative loss weight or augmentation")


@dataclass(frozen=True)
class EnhanceConfig(RunConfig):
    """Everything that defines a face-enhancer training run (``reenact train-enhancer``)."""

    RESUMABLE = ("data", "steps", "save_every", "validate_every", "log_every")
    MODE = "enhance"

    data: str  # a folder of sharp portraits (one face each)
    width: int = 48
    blocks: int = 3
    critic_width: int = 32
    patch: int = 96  # input patches (256-px crop pixels); the sharp side is twice that
    batch: int = 12
    steps: int = 3000
    save_every: int = 100
    validate_every: int = 250
    log_every: int = 25
    learning_rate: float = 2e-4
    # L1 keeps the face (PSNR, identity); the critic's term asks for detail a sharp face has.
    l1_weight: float = 50.0
    adversarial_weight: float = 1.0
    holdout: float = 0.1  # share of the people held out, whole, for validation
    seed: int = 0

    def __post_init__(self):
        self.require_positive("width", "critic_width", "patch", "batch", "steps", "save_every", "validate_every",
                              "log_every")
        if self.patch % 2:
            raise UserError(f"got patch {self.patch}, expected an even number of pixels")
        if self.learning_rate <= 0 or self.l1_weight < 0 or self.adversarial_weight < 0 or self.blocks < 0:
            raise UserError("expected learning_rate > 0 and no negative loss weight or block count")
        if not 0.0 < self.holdout < 1.0:
            raise UserError(f"got holdout {self.holdout}, expected a share between 0 and 1")
