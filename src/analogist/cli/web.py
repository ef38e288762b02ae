"""``analogist web``: serve the local web app."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .common import int_in


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the web app on this machine (needs the 'web' extra: Flask)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_in(1, 65535), default=8000, help="port (default 8000)")
    p.add_argument("--work-dir", default=None, help="folder for uploads and results (default: a new temporary folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..web import create_app
    except ImportError:
        raise InputError("the web app needs Flask: pip install 'analogist[web]'") from None
    from werkzeug.serving import run_simple

    print(f"analogist web app on http://{args.host}:{args.port}/  (Ctrl-C stops it)")
    run_simple(args.host, args.port, create_app(args.work_dir), threaded=True)
    return 0
