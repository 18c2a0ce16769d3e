"""The studio's page, served on this machine only (``reenact studio``).

A local web page rather than a desktop toolkit: no new dependency (Python's own HTTP
server), any browser shows it, and it is tested the way it is used, over HTTP
(docs/live.md#the-studio). Routes:

- ``GET /``: the page (``realtime.studio_page``);
- ``GET /stream``: the preview as motion JPEG (``multipart/x-mixed-replace``), one part per
  new frame of the loop;
- ``GET /preview.jpg``: the latest frame;
- ``GET /status``: the studio's figures and settings as JSON;
- ``POST /control``: ``{"action": ..., "value": ...}``; the reply is the new status, or
  ``{"error": one line}`` with status 400.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from models.errors import UserError
from realtime.studio import Studio
from realtime.studio_page import PAGE

BOUNDARY = "reenactframe"


def make_server(studio: Studio, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """An HTTP server for ``studio`` (port 0: any free port); serve it with ``serve_forever``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass  # the page polls; a line per request would bury what matters

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, document) -> None:
            self._send(status, json.dumps(document).encode("utf-8"), "application/json")

        def do_GET(self):  # noqa: N802 - the base class's name
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8")
            elif path == "/status":
                self._json(200, studio.status())
            elif path == "/preview.jpg":
                image = studio.preview.jpeg()
                if image is None:
                    self._json(503, {"error": "no frame yet"})
                else:
                    self._send(200, image, "image/jpeg")
            elif path == "/stream":
                self._stream()
            else:
                self._json(404, {"error": f"no page {path}"})

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = 0
            try:
                while not server.stopping.is_set():
                    seen = studio.preview.wait(seen)
                    image = studio.preview.jpeg()
                    if image is None:
                        continue
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(image)}"
                                     "\r\n\r\n".encode("ascii") + image + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page was closed

        def do_POST(self):  # noqa: N802 - the base class's name
            if self.path != "/control":
                self._json(404, {"error": f"no control at {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                studio.act(str(request.get("action")), request.get("value"))
            except UserError as error:
                studio.say(str(error))
                self._json(400, {"error": str(error)})
                return
            except (ValueError, TypeError) as error:
                self._json(400, {"error": f"a control is JSON {{\"action\": ..., \"value\": ...}} ({error})"})
                return
            self._json(200, studio.status())

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.stopping = threading.Event()
    return server
