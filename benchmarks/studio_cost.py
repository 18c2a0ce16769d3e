"""What the studio's page costs the loop: the live loop alone, then with the page open.

Run: ``.venv/bin/python -m benchmarks.studio_cost [--source CLIP] [--frames N] [--rounds R]``.

Both runs are :func:`benchmarks.live_run.measure_live` on the same simulated 60 fps camera,
back to back, alternating ``rounds`` times. "With the page" adds the studio's preview
output and a client that reads the page's motion-JPEG stream and its status four times a
second, as the page does (the JPEGs are encoded on the server's threads, which share the
loop's two cores). The table gives each run's frame rate and latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from pathlib import Path

from models.errors import UserError

STATUS_INTERVAL_S = 0.25  # the page polls its figures this often


def _page_client(url: str, stop: threading.Event, counts: dict) -> None:
    """Read the stream and poll the status until ``stop``, as an open page does."""

    def stream() -> None:
        with urllib.request.urlopen(url + "/stream", timeout=30) as reply:
            while not stop.is_set():
                if not reply.read(65536):
                    break
                counts["stream_reads"] = counts.get("stream_reads", 0) + 1

    reader = threading.Thread(target=stream, daemon=True)
    reader.start()
    while not stop.is_set():
        with urllib.request.urlopen(url + "/status", timeout=30) as reply:
            json.loads(reply.read())
        counts["status"] = counts.get("status", 0) + 1
        time.sleep(STATUS_INTERVAL_S)


def measure(options, with_page: bool) -> dict:
    """One run's figures; with the page, also how much the page read (``page``)."""
    from benchmarks.live_run import measure_live
    from realtime.studio import Studio, StudioSettings
    from realtime.studio_server import make_server

    if not with_page:
        return measure_live(options)
    studio = Studio(StudioSettings(source=options.source))  # its preview and server; the loop is measure_live's
    server = make_server(studio, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop, counts = threading.Event(), {}
    client = threading.Thread(target=_page_client, args=(f"http://127.0.0.1:{server.server_address[1]}", stop,
                                                         counts), daemon=True)
    client.start()
    try:
        figures = measure_live(options, extra_sinks=(studio.preview,))
        page = {"status_polls": counts.get("status", 0), "stream_reads": counts.get("stream_reads", 0)}
        return {**figures, "page": page}
    finally:
        stop.set()
        server.stopping.set()
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    from benchmarks.live_run import LiveBenchOptions
    from models.default_model import DEFAULT_ENHANCER, generator_path

    parser = argparse.ArgumentParser(prog="python -m benchmarks.studio_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="sample", help="clip replayed as a 60 fps camera (default: sample)")
    parser.add_argument("--frames", type=int, default=600, help="measured frames per run (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alone / with the page, this many times each")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args(argv)
    try:
        options = LiveBenchOptions(source=args.source, model_path=generator_path(None), frames=args.frames,
                                   enhancer_path=DEFAULT_ENHANCER)
        runs = []
        for round_number in range(args.rounds):
            for with_page in (False, True):
                figures = measure(options, with_page)
                runs.append({"with_page": with_page, "round": round_number, "fps": figures["fps"],
                             "latency_ms": figures["latency_ms"], "page": figures.get("page")})
                read = f"  (the page read the stream {figures['page']['stream_reads']} times, the status " \
                    f"{figures['page']['status_polls']})" if with_page else ""
                print(f"{'with the page' if with_page else 'alone':14s} fps {figures['fps']:.1f}  latency p50 "
                      f"{figures['latency_ms']['p50']:.1f} / p95 {figures['latency_ms']['p95']:.1f} ms{read}",
                      flush=True)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
