"""The contract between an exported generator and the live loop: metadata in the file.

An exported ``.tflite`` generator carries one JSON document in the flatbuffer's
``metadata`` table under the name ``reenact``. It says what the network expects (input
size, value range, the sketch version it was trained on, the alignment margin) and what
retargeting needs (the target's neutral landmarks and the range of each expression
measure seen in training). Reading and writing use only LiteRT's flatbuffer schema, so
neither side needs TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models.errors import UserError
from models.kinds import KINDS
from models.sketch import SKETCH_VERSION

METADATA_NAME = "reenact"
CONTRACT_VERSION = "reenact-generator/1"


class ModelContractError(UserError):
    """A generator file that is missing, unreadable or made for another front-end."""


@dataclass(frozen=True)
class GeneratorMetadata:
    """Everything the live loop must know about a generator, stored inside its file."""

    input_size: int
    sketch_version: str
    margin: float
    neutral_landmarks: list  # (478, 3) aligned-crop coordinates at input_size
    expression_ranges: dict  # measure name -> [low, high] over the training frames
    credit: str
    quantization: str = "fp32"
    value_range: tuple = (-1.0, 1.0)  # float range of the network's input and output
    channel_order: str = "BGR"
    architecture: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    contract: str = CONTRACT_VERSION
    # The target's shape space (models.shape_space.ShapeSpace.to_dict): the live loop keeps
    # each frame's sketch inside it. None in models exported before it existed.
    shape_space: dict | None = None
    # A generator with a second input (a real photo of the target, see
    # models.generator_recipe.GeneratorShape.appearance) carries the photo the live loop
    # gives it: a (input_size, input_size, 3) BGR aligned crop, PNG in base64. None for a
    # sketch-only generator.
    appearance_image: str | None = None
    # What the network does: "reenact" (a sketch in, the target's face out) or "swap" (the
    # driver's aligned face in, the target's face out: an autoencoder's encoder with the
    # target's decoder). A swap model names its identities: {"a": ..., "b": ...}, each the
    # data set's name and credit. Models exported before swap models existed are "reenact".
    mode: str = "reenact"
    identities: dict | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GeneratorMetadata":
        return document_from_json(cls, text)

    @property
    def neutral(self) -> np.ndarray:
        return np.asarray(self.neutral_landmarks, dtype=np.float32)

    def appearance(self) -> np.ndarray | None:
        """The stored appearance photo, (S, S, 3) uint8 BGR, or None for a sketch-only generator."""
        if self.appearance_image is None:
            return None
        import base64

        import cv2

        image = cv2.imdecode(np.frombuffer(base64.b64decode(self.appearance_image), np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.shape != (self.input_size, self.input_size, 3):
            raise ModelContractError(f"the stored appearance photo is not a {self.input_size}x{self.input_size} image")
        return image

    @staticmethod
    def encode_appearance(image: np.ndarray) -> str:
        """A BGR uint8 photo as :attr:`appearance_image` text (lossless PNG)."""
        import base64

        import cv2

        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise ValueError("could not encode the appearance photo as PNG")
        return base64.b64encode(data.tobytes()).decode("ascii")

    def target_shapes(self):
        """The :class:`models.shape_space.ShapeSpace` the model carries, or None."""
        from models.shape_space import ShapeSpace

        return ShapeSpace.from_dict(self.shape_space) if self.shape_space else None


MODES = tuple(KINDS)


def require_mode(metadata: GeneratorMetadata, mode: str, path) -> None:
    """ModelContractError unless the model does what ``--mode mode`` runs."""
    if metadata.mode not in KINDS:
        raise ModelContractError(f"model {path}: mode {metadata.mode!r}, expected one of {', '.join(MODES)}")
    if metadata.mode not in KINDS[mode].runs:
        raise ModelContractError(f"model {path} is {KINDS[metadata.mode].what}, but --mode {mode} needs "
                                 f"{KINDS[mode].what}; pass --mode {metadata.mode}, or another --model")


def model_id(model_bytes: bytes) -> str:
    """A short, stable id of a model file (its content hash)."""
    return hashlib.sha256(model_bytes).hexdigest()[:8]


def write_metadata(model_bytes: bytes, metadata) -> bytes:
    """Return the flatbuffer ``model_bytes`` with ``metadata`` embedded (replacing any).

    ``metadata`` is any contract document with ``to_json()``: a generator's, or an
    enhancer's (``models.enhancer_contract``)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata.to_json().encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _name(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def document_from_json(cls, text: str):
    """A contract document (a frozen dataclass) from its JSON: the value range as a tuple,
    settings this version does not know left out."""
    data = json.loads(text)
    data["value_range"] = tuple(data.get("value_range", (-1.0, 1.0)))
    return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})


def metadata_text(model_bytes: bytes) -> str:
    """The JSON document embedded by :func:`write_metadata`; raises ModelContractError."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAs(bytearray(model_bytes), 0)
        for index in range(model.MetadataLength()):
            entry = model.Metadata(index)
            if _name(entry.Name()) == METADATA_NAME:
                return bytes(model.Buffers(entry.Buffer()).DataAsNumpy()).decode("utf-8")
    except Exception as error:  # noqa: BLE001 - any parse failure means "not a model of ours"
        raise ModelContractError(f"not a readable TFLite model ({type(error).__name__})") from error
    raise ModelContractError("the model carries no reenact metadata (was it made by `reenact export`?)")


def _generator_metadata(text: str) -> GeneratorMetadata:
    contract = json.loads(text).get("contract", CONTRACT_VERSION)
    if contract != CONTRACT_VERSION:
        raise ModelContractError(f"not a generator but a {contract} model")
    return GeneratorMetadata.from_json(text)


def read_metadata(model_bytes: bytes) -> GeneratorMetadata:
    """The generator metadata embedded by :func:`write_metadata`; raises ModelContractError."""
    return _generator_metadata(metadata_text(model_bytes))


def read_model_file(path: str | Path, what: str) -> tuple[bytes, str]:
    """A model file's bytes and its metadata document; ModelContractError naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise ModelContractError(f"{what} {path}: no such file")
    model_bytes = path.read_bytes()
    try:
        return model_bytes, metadata_text(model_bytes)
    except ModelContractError as error:
        raise ModelContractError(f"{what} {path}: {error}") from None


def load_generator_file(path: str | Path, expected_size: int | None = None) -> tuple[bytes, GeneratorMetadata]:
    """Read a generator file and check it against this front-end; clear errors only."""
    path = Path(path)
    model_bytes, text = read_model_file(path, "model")
    try:
        metadata = _generator_metadata(text)
    except ModelContractError as error:
        raise ModelContractError(f"model {path}: {error}") from None
    if metadata.sketch_version != SKETCH_VERSION:
        raise ModelContractError(
            f"model {path}: trained on sketch {metadata.sketch_version!r}, expected "
            f"{SKETCH_VERSION!r}; retrain or re-export it with this version")
    if expected_size is not None and metadata.input_size != expected_size:
        raise ModelContractError(
            f"model {path}: input size {metadata.input_size}, expected {expected_size}")
    if np.asarray(metadata.neutral_landmarks).shape != (478, 3):
        raise ModelContractError(f"model {path}: neutral landmarks missing or malformed")
    return model_bytes, metadata
