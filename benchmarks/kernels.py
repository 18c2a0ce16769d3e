"""Each Numba kernel against its numpy/OpenCV twin, on identical inputs.

Run: ``.venv/bin/python -m benchmarks.kernels [--json OUT.json]``. Prints median and
p95 microseconds per call for both, interleaved so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from models.files import write_json
from realtime import kernels
from realtime.one_euro import OneEuroFilter, OneEuroOptions, _alpha, _one_euro_kernel, one_euro_step_reference


def _time(function, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def cases(size: int = 256):
    rng = np.random.default_rng(0)
    sketch = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    float_lut = kernels.input_lut(np.float32)
    int8_lut = kernels.input_lut(np.int8, 2 / 255, -1)
    float_in, int8_in = np.empty(sketch.shape, np.float32), np.empty(sketch.shape, np.int8)
    float_out = rng.uniform(-1, 1, sketch.shape).astype(np.float32)
    int8_out = rng.integers(-128, 128, sketch.shape).astype(np.int8)
    out_lut = kernels.output_lut(np.int8, 2 / 255, -1)
    image = np.empty(sketch.shape, np.uint8)
    frame = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    dimmed = np.empty_like(frame)
    face = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.clip(rng.normal(0.5, 0.5, (size, size)), 0, 1).astype(np.float32)
    blended = np.empty_like(frame)
    options = OneEuroOptions()
    points = rng.normal(size=(478, 3))
    state = [points.copy(), np.zeros_like(points)]
    alpha = _alpha(options.derivative_cutoff, 1 / 30)
    cutoffs = OneEuroFilter(options).min_cutoffs(points.shape)  # the lids' and lips' own, as live
    return {
        "sketch_to_input float32": (lambda: kernels.sketch_to_input(sketch, float_lut, float_in),
                                    lambda: kernels.sketch_to_input_reference(sketch, float_lut, float_in)),
        "sketch_to_input int8": (lambda: kernels.sketch_to_input(sketch, int8_lut, int8_in),
                                 lambda: kernels.sketch_to_input_reference(sketch, int8_lut, int8_in)),
        "output_to_image float32": (lambda: kernels.output_to_image(float_out, None, image),
                                    lambda: kernels.output_to_image_reference(float_out, None, image)),
        "output_to_image int8": (lambda: kernels.output_to_image(int8_out, out_lut, image),
                                 lambda: kernels.output_to_image_reference(int8_out, out_lut, image)),
        "dim": (lambda: kernels.dim(frame, 0.4, dimmed), lambda: kernels.dim_reference(frame, 0.4, dimmed)),
        "blend (face swap paste)": (lambda: kernels.blend(frame, face, mask, blended),
                                    lambda: kernels.blend_reference(frame, face, mask, blended)),
        "one_euro 478x3": (lambda: _one_euro_kernel(points, state[0], state[1], 1 / 30, cutoffs, options.beta, alpha),
                           lambda: one_euro_step_reference(points, state[0], state[1], 1 / 30, options, cutoffs)),
    }


def run(repeats: int = 300) -> list[dict]:
    results = []
    for name, (numba_version, twin) in cases().items():
        numba_version(), twin()  # compile and warm caches
        numba_samples, twin_samples = [], []
        for _ in range(repeats):  # interleave so noise hits both
            numba_samples += _time(numba_version, 1)
            twin_samples += _time(twin, 1)
        numba_p50, twin_p50 = np.median(numba_samples), np.median(twin_samples)
        results.append({
            "kernel": name,
            "numba_us": {"p50": round(float(numba_p50), 1), "p95": round(float(np.percentile(numba_samples, 95)), 1)},
            "twin_us": {"p50": round(float(twin_p50), 1), "p95": round(float(np.percentile(twin_samples, 95)), 1)},
            "speedup": round(float(twin_p50 / numba_p50), 2),
        })
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    results = run(args.repeats)
    print(f"{'kernel':28s} {'numba p50':>10s} {'twin p50':>10s} {'speedup':>8s}  (microseconds)")
    for row in results:
        print(f"{row['kernel']:28s} {row['numba_us']['p50']:10.1f} {row['twin_us']['p50']:10.1f} {row['speedup']:8.2f}")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
