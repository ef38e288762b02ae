"""A real threaded HTTP server around the web app on a free loopback port, for browser and HTTP tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from werkzeug.serving import make_server

from analogist.web import create_app


@contextlib.contextmanager
def live_server(work_dir: Path, **options) -> Iterator[tuple[str, object]]:
    """Yield ``(base URL, app)``; the server and its job worker stop on exit."""
    app = create_app(work_dir, **options)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", app
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["analogist_jobs"].close()
