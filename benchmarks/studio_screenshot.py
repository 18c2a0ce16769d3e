"""A screenshot of the studio's page, running on the built-in sample, in a real browser.

Run: ``.venv/bin/python -m benchmarks.studio_screenshot --out docs/studio.jpg`` (needs
Debian's ``chromium``, which ``make test`` installs where it can).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from realtime.studio import Studio, StudioSettings
    from realtime.studio_browser import browser, render_page
    from realtime.studio_server import make_server

    parser = argparse.ArgumentParser(prog="python -m benchmarks.studio_screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/studio.jpg"))
    args = parser.parse_args(argv)
    if browser() is None:
        print("error: no chromium here (apt-get install chromium)", file=sys.stderr)
        return 2
    studio = Studio(StudioSettings(source="sample"))
    server = make_server(studio, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    studio.start()
    try:
        while studio.preview.frames < 60:
            time.sleep(0.2)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        png = args.out.with_suffix(".png")
        render_page(f"http://127.0.0.1:{server.server_address[1]}/", png)
        if png != args.out:  # e.g. a .jpg for the docs: a fifth of the PNG's size
            import cv2

            cv2.imwrite(str(args.out), cv2.imread(str(png)), [cv2.IMWRITE_JPEG_QUALITY, 88])
            png.unlink()
    finally:
        server.stopping.set()
        server.shutdown()
        studio.stop()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
