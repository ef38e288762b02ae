"""The Flask application: a single page and a small JSON API.

``POST /api/jobs`` (multipart: ``method``, ``image_a``, ``image_b``, ``size``) -> ``202 {"id": ...}``;
``GET /api/jobs/<id>`` -> state, progress, outputs or error; ``GET /api/jobs/<id>/files/<name>`` -> a result.
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from flask import Flask, Response, abort, jsonify, request, send_from_directory

from ..errors import InputError
from ..io import read_image_array
from .jobs import JobStore
from .tasks import TASKS

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 64, 768, 256
ALLOWED_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def create_app(work_dir: str | Path | None = None, *, max_upload_mb: int = 25) -> Flask:
    """Build the app; results live under ``work_dir`` (default: a new temporary folder)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_mb * 1024 * 1024
    store = JobStore(Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="analogist-web-")))
    app.extensions["analogist_jobs"] = store

    def error(message: str, status: int = 400) -> tuple[Response, int]:
        return jsonify({"error": message}), status

    @app.errorhandler(413)
    def too_large(_exc: Exception) -> tuple[Response, int]:
        return error(f"upload larger than {max_upload_mb} MB", 413)

    @app.get("/")
    def index() -> Response:
        html = (resources.files(__package__) / "index.html").read_text(encoding="utf-8")
        return Response(html, mimetype="text/html")

    @app.get("/api/methods")
    def methods() -> Response:
        return jsonify({name: {"a": a, "b": b, "description": d} for name, (_, a, b, d) in TASKS.items()})

    @app.post("/api/jobs")
    def submit() -> tuple[Response, int]:
        method = request.form.get("method", "")
        if method not in TASKS:
            return error(f"unknown method {method!r}: choose one of {', '.join(TASKS)}")
        try:
            size = int(request.form.get("size", DEFAULT_SIZE))
        except ValueError:
            return error("size must be a whole number of pixels")
        if not MIN_SIZE <= size <= MAX_SIZE:
            return error(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
        uploads = [request.files.get("image_a"), request.files.get("image_b")]
        if not all(u and u.filename for u in uploads):
            return error("upload two images (image_a and image_b)")
        job = store.create(method)
        paths = []
        for key, upload in zip(("a", "b"), uploads):
            suffix = Path(upload.filename).suffix.lower()
            path = job.folder / f"input_{key}{suffix if suffix in ALLOWED_SUFFIXES else ''}"
            upload.save(path)
            try:
                read_image_array(path)  # refuse bad uploads now, with the same messages as the CLI
            except InputError as exc:
                job.state, job.error = "failed", str(exc).replace(str(path), upload.filename)
                return error(job.error)
            paths.append(path)
        store.start(job, paths[0], paths[1], size)
        return jsonify({"id": job.id}), 202

    @app.get("/api/jobs/<job_id>")
    def status(job_id: str) -> Response | tuple[Response, int]:
        job = store.get(job_id)
        return jsonify(job.public()) if job else error("no such job", 404)

    @app.get("/api/jobs/<job_id>/files/<name>")
    def files(job_id: str, name: str) -> Response:
        job = store.get(job_id)
        if job is None or name not in job.outputs:
            abort(404)
        return send_from_directory(job.folder / "out", name)

    return app
