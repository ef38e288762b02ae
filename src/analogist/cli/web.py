"""``analogist web``: serve the local web app."""

from __future__ import annotations

import argparse
import logging
import socket

from ..errors import InputError, OutputError
from ..outputs import OutputPlan
from .common import add_device, int_in


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the web app on this machine (needs the 'web' extra: Flask)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_in(1, 65535), default=8000, help="port (default 8000)")
    p.add_argument(
        "--work-dir",
        default=None,
        help="folder for uploads and results, kept after shutdown (default: a new temporary folder, "
        "removed on shutdown)",
    )
    p.add_argument("--max-upload-mb", type=int_in(1, 1000), default=20, help="largest upload in MB (default 20)")
    p.add_argument(
        "--max-megapixels", type=int_in(1, 120), default=40, help="largest uploaded image in megapixels (default 40)"
    )
    p.add_argument(
        "--per-user",
        type=int_in(1, 100),
        default=3,
        help="jobs one browser may have waiting or running at once (default 3)",
    )
    p.add_argument(
        "--threads",
        type=int_in(1, 1024),
        default=None,
        help="torch threads for the job that runs (default: every core this process may use)",
    )
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..web import create_app
    except ImportError:
        raise InputError("the web app needs Flask: pip install 'analogist[web]'") from None
    from werkzeug.serving import run_simple

    if args.work_dir is not None:
        OutputPlan.folder(args.work_dir, [])  # a file, a read-only or impossible place: one line, before serving
    _check_port(args.host, args.port)
    app = create_app(
        args.work_dir,
        max_upload_mb=args.max_upload_mb,
        max_megapixels=args.max_megapixels,
        per_owner=args.per_user,
        device=str(args.device),
        threads=args.threads,
    )
    if args.quiet:  # werkzeug logs every request on stderr
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    else:
        print(f"analogist web app on http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    try:
        run_simple(args.host, args.port, app, threaded=True)
    finally:
        app.extensions["analogist_jobs"].close()  # the temporary work folder goes with the server
    return 0


def _check_port(host: str, port: int) -> None:
    """Refuse a port that is taken or privileged before the server starts (werkzeug would exit mid-start)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise InputError(f"cannot listen on {host}: not an address of this machine") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise OutputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
