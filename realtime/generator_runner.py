"""The generator on LiteRT: sketch in, uint8 BGR face out.

An appearance generator (one trained with ``--appearance``) also takes a real photo of the
target; the runner gives it the photo stored in the model file, converted once, unless
:meth:`GeneratorRunner.set_appearance` names another.

Works for every export the project makes (fp32 or fp16 with float32 tensors, full-integer
int8 with int8 tensors) by reading each tensor's dtype and quantisation parameters; the
conversions on either side are look-up tables applied by the Numba kernels in
:mod:`realtime.kernels`. The interpreter runs XNNPACK (LiteRT's default delegate) with a
configurable thread count, and ``invoke`` releases the GIL, so the landmarker can run the
next frame in another thread meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.generator_contract import GeneratorMetadata, ModelContractError, load_generator_file, model_id
from models.native_logs import quiet_native_stderr
from realtime import kernels

DEFAULT_THREADS = 2


@dataclass(frozen=True)
class GeneratorOptions:
    """Where the generator comes from and how it runs."""

    model_path: Path
    num_threads: int = DEFAULT_THREADS


def _quantisation(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


class GeneratorRunner:
    """One loaded generator; :meth:`generate` maps a (S, S, 3) uint8 sketch to a face."""

    def __init__(self, model_bytes: bytes, metadata: GeneratorMetadata, num_threads: int = DEFAULT_THREADS,
                 name: str = "model"):
        if num_threads < 1:
            raise ValueError(f"got num_threads {num_threads}, expected at least 1")
        from ai_edge_litert.interpreter import Interpreter

        self.metadata = metadata
        self.model_id = model_id(model_bytes)  # the invisible watermark names the model by it
        size = metadata.input_size
        # The conversion tables below assume the project's convention; say so if not.
        if tuple(metadata.value_range) != (-1.0, 1.0) or metadata.channel_order != "BGR":
            raise ModelContractError(f"{name}: value range {tuple(metadata.value_range)} and channels "
                                     f"{metadata.channel_order}, expected (-1.0, 1.0) and BGR")
        try:
            with quiet_native_stderr():  # LiteRT announces its XNNPACK delegate on fd 2
                self._interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelContractError(f"{name}: LiteRT cannot load it ({str(error).splitlines()[0]})") from None
        appearance = metadata.appearance()
        expected_inputs = 1 if appearance is None else 2
        inputs = self._only(self._interpreter.get_input_details(), expected_inputs, "input", name)
        # The sketch first, then the appearance photo (LiteRT need not keep the signature's order).
        input_detail, *appearance_detail = sorted(inputs, key=lambda detail: "appearance" in detail["name"])
        (output_detail,) = self._only(self._interpreter.get_output_details(), 1, "output", name)
        for role, detail in (("input", input_detail), *(("appearance input", d) for d in appearance_detail),
                             ("output", output_detail)):
            if tuple(detail["shape"]) != (1, size, size, 3):
                raise ModelContractError(f"{name}: {role} tensor of shape {tuple(detail['shape'])}, "
                                         f"expected (1, {size}, {size}, 3) as its metadata says")
        input_dtype, output_dtype = np.dtype(input_detail["dtype"]), np.dtype(output_detail["dtype"])
        for role, detail in (("input", input_detail), *(("appearance input", d) for d in appearance_detail),
                             ("output", output_detail)):
            dtype = np.dtype(detail["dtype"])
            if dtype not in (np.float32, np.int8, np.uint8):
                raise ModelContractError(f"{name}: {role} tensor of type {dtype}, expected float32, int8 or uint8")
            if dtype.kind != "f" and _quantisation(detail)[0] <= 0:
                raise ModelContractError(f"{name}: quantised {role} tensor without a quantisation scale")
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        self._input_lut = kernels.input_lut(input_dtype, *_quantisation(input_detail))
        self._output_lut = kernels.output_lut(output_dtype, *_quantisation(output_detail))
        self._input = np.zeros((1, size, size, 3), input_dtype)
        self.size = size
        self.input_dtype, self.output_dtype = input_dtype, output_dtype
        self._appearance_detail = appearance_detail[0] if appearance_detail else None
        self._appearance = None
        if appearance is not None:
            self.set_appearance(appearance)

    @staticmethod
    def _only(details: list, count: int, role: str, name: str) -> list:
        if len(details) != count:
            raise ModelContractError(f"{name}: {len(details)} {role} tensors, expected {count}")
        return details

    @property
    def takes_appearance(self) -> bool:
        return self._appearance_detail is not None

    def set_appearance(self, photo: np.ndarray) -> None:
        """Give an appearance generator this (S, S, 3) uint8 BGR aligned photo of the target
        from now on (the model's own stored photo until then)."""
        if self._appearance_detail is None:
            raise ValueError("this generator takes no appearance photo")
        if photo.shape != (self.size, self.size, 3) or photo.dtype != np.uint8:
            raise ValueError(f"got appearance photo {photo.shape} {photo.dtype}, "
                             f"expected ({self.size}, {self.size}, 3) uint8")
        dtype = np.dtype(self._appearance_detail["dtype"])
        converted = np.zeros((1, self.size, self.size, 3), dtype)
        lut = kernels.input_lut(dtype, *_quantisation(self._appearance_detail))
        kernels.sketch_to_input(np.ascontiguousarray(photo), lut, converted[0])
        self._appearance = converted

    @classmethod
    def from_file(cls, options: GeneratorOptions) -> "GeneratorRunner":
        """Load and check a generator file; raises ModelContractError (a UserError)."""
        model_bytes, metadata = load_generator_file(options.model_path)
        return cls(model_bytes, metadata, options.num_threads, name=f"model {options.model_path}")

    def warm_up(self) -> None:
        """Run once on a blank sketch: the first invoke packs weights and loads the kernels."""
        self.generate(np.zeros((self.size, self.size, 3), np.uint8))

    def generate(self, sketch: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The generated (S, S, 3) uint8 BGR face for a uint8 sketch of the same size."""
        if sketch.shape != (self.size, self.size, 3) or sketch.dtype != np.uint8:
            raise ValueError(f"got sketch {sketch.shape} {sketch.dtype}, "
                             f"expected ({self.size}, {self.size}, 3) uint8")
        if out is None:
            out = np.empty((self.size, self.size, 3), np.uint8)
        kernels.sketch_to_input(np.ascontiguousarray(sketch), self._input_lut, self._input[0])
        self._interpreter.set_tensor(self._input_index, self._input)
        if self._appearance is not None:  # 200 kB copied: some microseconds
            self._interpreter.set_tensor(self._appearance_detail["index"], self._appearance)
        self._interpreter.invoke()
        self._write_output(out)
        return out

    def _write_output(self, out: np.ndarray) -> None:
        # A view into the interpreter's buffer, dropped on return: LiteRT refuses to
        # invoke while a view is alive.
        output = self._interpreter.tensor(self._output_index)()
        kernels.output_to_image(output[0], self._output_lut, out)
