"""The speed-quality curve: trained generators timed side by side and measured on held-out frames.

``python -m benchmarks.speed_quality --data data/grid MODEL.tflite [MODEL.tflite ...]``
times every model in one interleaved run (:func:`benchmarks.variant_timing.time_variants`:
the live loop's own runner, sketches of the same driver frames) beside pix2pix's reference
network, evaluates each on the validation split exactly as ``reenact eval --data`` does,
and writes ``speed_quality.json`` and ``speed_quality.png`` (generator milliseconds
against held-out PSNR, one labelled point per model, with the 20x speed budget and the
27 dB quality floor drawn in). The models must have been trained on that data set: the
curve compares architectures at one data set and training budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from models.default_model import DEFAULT_GENERATOR
from models.errors import UserError
from models.files import write_json
from models.generator_contract import GeneratorMetadata, load_generator_file

PSNR_FLOOR_DB = 27.0  # the quality floor of the shipped model on `reenact eval --data` (docs/training.md)
SPEEDUP_TARGET = 20.0  # the shipped generator against the pix2pix-size reference (docs/speed.md)


def describe(metadata: GeneratorMetadata) -> str:
    """``w16 separable int8`` (``+ appearance photo`` for a generator that takes one): what a point on the curve is."""
    architecture = metadata.architecture or {}
    text = f"w{architecture.get('width', '?')} {architecture.get('upsample', '?')} {metadata.quantization}"
    return text + (" + appearance photo" if metadata.appearance_image is not None else "")


def measure(models: list[Path], data: Path, source: str, invokes: int, labels: list[str] | None = None) -> dict:
    """Time ``models`` beside the reference and evaluate each on ``data``'s validation split.

    ``labels`` name the points in order (default: each file's width, decoder and quantisation).
    """
    from benchmarks.generators import ensure_variants
    from benchmarks.variant_timing import Variant, driver_faces, time_variants
    from evaluation.data import evaluate_data

    reference = next(path for spec, path in ensure_variants(DEFAULT_GENERATOR).items() if spec.role == "reference")
    metadata = {path: load_generator_file(path)[1] for path in models}
    labels = labels or [describe(metadata[path]) for path in models]
    first = metadata[models[0]]
    faces = driver_faces(source, first)
    variants = [Variant("reference: pix2pix U-Net w64 transpose fp32", "reference", reference)]
    variants += [Variant(f"{path.name}: {label}", "trained", path) for path, label in zip(models, labels)]
    timings = time_variants(variants, faces, first.input_size, invokes)
    points = []
    with tempfile.TemporaryDirectory() as scratch:
        for path, label, timing in zip(models, labels, timings[1:]):
            quality = evaluate_data(path, data, Path(scratch) / f"{path.stem}.json")
            points.append({"model": str(path), "label": label,
                           "generator_ms": timing["generator_ms"],
                           **{key: quality[key] for key in ("psnr", "ssim", "landmark_nme", "mouth_open_mae",
                                                            "psnr_stored_appearance", "ssim_stored_appearance")
                              if key in quality}})
    return {"reference_ms": timings[0]["generator_ms"], "data": str(data), "points": points}


def plot(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    budget = report["reference_ms"]["p50"] / SPEEDUP_TARGET
    axes.axvline(budget, color="tab:red", linestyle="--", linewidth=1)
    axes.text(budget, PSNR_FLOOR_DB + 0.15, f" {SPEEDUP_TARGET:g}x faster than pix2pix", color="tab:red", fontsize=8)
    axes.axhline(PSNR_FLOOR_DB, color="grey", linestyle=":", linewidth=1)
    axes.text(0.2, PSNR_FLOOR_DB + 0.15, "quality floor (eval)", color="grey", fontsize=8)
    by_speed = sorted(report["points"], key=lambda point: point["generator_ms"]["p50"])
    for index, point in enumerate(by_speed):
        milliseconds, psnr = point["generator_ms"]["p50"], point["psnr"]
        axes.plot(milliseconds, psnr, "o", color="tab:blue")
        # Labels alternate below and above their points, so neighbours do not overprint.
        stored = (f"\nstored photo: {point['psnr_stored_appearance']:.1f} dB"
                  if point.get("psnr_stored_appearance") is not None else "")
        axes.annotate(f"{point['label']}\nSSIM {point['ssim']:.3f}, mouth {point['mouth_open_mae']:.3f}{stored}",
                      (milliseconds, psnr), textcoords="offset points", xytext=(6, -24 if index % 2 == 0 else 6),
                      fontsize=8)
    slowest = max([budget] + [point["generator_ms"]["p50"] for point in report["points"]])
    best = max([PSNR_FLOOR_DB] + [point["psnr"] for point in report["points"]])
    worst = min([PSNR_FLOOR_DB] + [point["psnr"] for point in report["points"]])
    axes.set_xlim(0, slowest * 1.5)  # room for the labels right of the points
    axes.set_ylim(worst - 1.0, best + 1.0)
    axes.set_xlabel("generator p50 ms (LiteRT, live loop's runner)")
    axes.set_ylabel("held-out PSNR dB")
    axes.set_title(f"speed and quality (reference pix2pix: {report['reference_ms']['p50']:.0f} ms)", fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.speed_quality",
                                     description="Time trained generators side by side and measure each on the "
                                                 "held-out frames: the speed-quality curve.")
    parser.add_argument("models", nargs="+", type=Path, metavar="MODEL.tflite",
                        help="generators trained on DATA (from `reenact export`)")
    parser.add_argument("--data", type=Path, required=True, help="the prepared data set they were trained on")
    parser.add_argument("--label", action="append", default=[], metavar="TEXT",
                        help="name of each point, once per model in order (default: width, decoder, quantisation)")
    parser.add_argument("--source", default="sample", help="driver whose sketches time the models (default sample)")
    parser.add_argument("--invokes", type=int, default=100, metavar="N", help="timed rounds (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("out/speed_quality"), metavar="DIR",
                        help="folder for speed_quality.json and .png (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        for path in args.models:
            if not path.is_file():
                raise UserError(f"model {path} not found")
        if args.label and len(args.label) != len(args.models):
            raise UserError(f"got {len(args.label)} --label for {len(args.models)} models, expected one per model")
        report = measure(args.models, args.data, args.source, args.invokes, args.label or None)
    except UserError as error:
        print(f"speed_quality: error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "speed_quality.json", report)
    plot(report, args.out / "speed_quality.png")
    for point in report["points"]:
        print(f"{point['label']:28s} {point['generator_ms']['p50']:6.1f} ms p50  {point['psnr']:5.2f} dB  "
              f"SSIM {point['ssim']:.3f}  mouth {point['mouth_open_mae']:.4f}  ({point['model']})")
    print(f"reference {report['reference_ms']['p50']:.1f} ms p50; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
