"""One PNG of a bench report: latency over time, the per-stage breakdown, the variants.

Drawn with matplotlib's Agg backend from the report dictionary alone (what ``--json``
writes), so a saved report can be drawn again later.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed, and never one picked up by accident

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


def _latency_panel(axes, report: dict) -> None:
    timeline = report["timeline"]
    axes.plot(timeline["output_s"], timeline["latency_ms"], ".", markersize=3, color="tab:blue",
              label="capture to output, per frame")
    for key, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        axes.axhline(report["latency_ms"][key], color="black", linestyle=style, linewidth=1,
                     label=f"{key} {report['latency_ms'][key]:.1f} ms")
    if timeline["drop_s"]:
        axes.plot(timeline["drop_s"], [0] * len(timeline["drop_s"]), "|", color="tab:red", markersize=8,
                  label=f"dropped frames ({len(timeline['drop_s'])})")
    axes.set_xlabel("seconds after the warm-up")
    axes.set_ylabel("latency (ms)")
    axes.set_ylim(bottom=0)
    axes.set_title(f"End to end: {report['fps']:.1f} fps over {report['frames']['measured']} frames, "
                   f"peak RSS {report['peak_rss_mb']:.0f} MB, CPU {report['cpu_percent']:.0f}%")
    axes.legend(loc="upper right", fontsize=8)


def _stage_panel(axes, report: dict) -> None:
    stages = list(report["stages_ms"])
    positions = range(len(stages))
    values = report["stages_ms"]
    axes.barh(positions, [values[stage]["p50"] for stage in stages], color="tab:blue", label="p50")
    axes.plot([values[stage]["p95"] for stage in stages], positions, "k|", markersize=12, label="p95")
    axes.plot([values[stage]["p99"] for stage in stages], positions, "rx", markersize=6, label="p99")
    if report["fps"] > 0:
        axes.axvline(1000.0 / report["fps"], color="gray", linestyle="--", label="frame period")
    axes.set_yticks(list(positions), stages)
    axes.invert_yaxis()  # pipeline order, top to bottom
    axes.set_xlabel("ms per frame")
    axes.set_title("Per stage (front thread: landmarks to sketch; back thread: generator to sinks)")
    axes.legend(loc="lower right", fontsize=8)


def _variant_panel(axes, report: dict) -> None:
    rows = report["variants"]
    positions = range(len(rows))
    colours = {"shipped": "tab:green", "reference": "tab:red"}
    axes.barh(positions, [row["generator_ms"]["p50"] for row in rows],
              color=[colours.get(row["role"], "tab:gray") for row in rows])
    axes.plot([row["generator_ms"]["p95"] for row in rows], positions, "k|", markersize=12)
    axes.set_yticks(list(positions), [row["name"] for row in rows], fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("generator ms (p50 bar, p95 tick; log scale)")
    speedup = report.get("reference_speedup")
    axes.set_title("Generator variants" + (f": shipped {speedup:g}x faster than the reference" if speedup else ""))


def plot_report(report: dict, path: Path) -> Path:
    """Draw ``report`` into ``path`` (PNG) and return the path."""
    # Variants only when there is something to compare the shipped model with.
    panels = [_latency_panel, _stage_panel] + ([_variant_panel] if len(report.get("variants", [])) > 1 else [])
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 4 * len(panels)), constrained_layout=True)
    for draw, panel_axes in zip(panels, axes):
        draw(panel_axes, report)
    figure.suptitle(f"reenact bench: {report['feed']['name']}, model {Path(report['model']).name}", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
