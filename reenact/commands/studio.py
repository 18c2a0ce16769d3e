"""Open the studio: the live loop with a page of controls and a preview, served on this machine.

The page is at http://127.0.0.1:PORT/ (only this machine can reach it); the loop starts
with the settings of the last run, or the defaults (the built-in sample, the shipped model).
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from models.errors import UserError
from realtime.generator_runner import DEFAULT_THREADS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765, help="the page's port on 127.0.0.1 (default %(default)s)")
    parser.add_argument("--models", type=Path, metavar="FOLDER",
                        help="a folder whose .tflite models the page offers beside the shipped ones")
    parser.add_argument("--source", help="start with this source (camera index, video file or 'sample'); "
                                         "default: the last run's")
    parser.add_argument("--reset", action="store_true", help="forget the remembered settings, start from the defaults")
    parser.add_argument("--open", action=argparse.BooleanOptionalAction, default=True,
                        help="open the page in the default browser (default: yes)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="inference threads (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from realtime.studio import Studio, StudioSettings, settings_path
    from realtime.studio_server import make_server

    if args.models is not None and not args.models.is_dir():
        raise UserError(f"--models {args.models}: no such folder")
    saved = settings_path()
    settings = StudioSettings() if args.reset else StudioSettings.load(saved)
    if args.source is not None:
        settings = replace(settings, source=args.source)
    studio = Studio(settings, save_to=saved, models_dir=args.models, threads=args.threads)
    try:
        server = make_server(studio, port=args.port)
    except OSError as error:
        raise UserError(f"port {args.port}: {error.strerror}; pass --port with another number") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    studio.start()
    threading.Thread(target=server.serve_forever, name="studio-server", daemon=True).start()
    print(f"the studio is at {url} (Ctrl-C or the page's quit to stop)")
    if args.open:
        import webbrowser

        webbrowser.open(url)
    try:
        studio.quit_requested.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.shutdown()
        studio.stop()
    return 0
