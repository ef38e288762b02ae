"""The Flask application: one page and a small JSON API, every job tied to the browser that made it.

``GET /api/methods`` -> the runnable tasks (:mod:`analogist.tasks`); ``POST /api/jobs`` (multipart:
``method``, ``image_a``, ``image_b``, ``size`` and the task's options) -> ``202`` and the job's status;
``GET /api/jobs`` -> this browser's jobs (waiting, running, finished until they expire), so a reload or
a new tab finds them; ``GET /api/jobs/<id>`` -> state, overall progress, stage, time estimate, queue
position, jobs ahead, notes on the result, outputs or a one-line error; ``POST /api/jobs/<id>/cancel``;
``GET /api/jobs/<id>/files/<name>[?download=1]``; ``GET /api/jobs/<id>/inputs/<a|b>`` -> the job's two
images; ``GET /api/examples/<name>`` -> a bundled example image.

A browser is known by a random secret cookie; a job id that is unknown, malformed or another
browser's gives the same 404. Uploads are stored under names the server chooses.
"""

from __future__ import annotations

import atexit
import re
import secrets
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from flask import Flask, Response, abort, g, jsonify, request, send_file, send_from_directory

from ..data import EXAMPLES, example_path
from ..errors import InputError
from ..tasks import TASKS, get_task
from .jobs import Busy, Job, JobStore
from .uploads import check_upload, display_name

COOKIE = "analogist_session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{24,64}$")
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


def create_app(
    work_dir: str | Path | None = None,
    *,
    max_upload_mb: int = 20,
    max_megapixels: float = 40,
    per_owner: int = 3,
    max_queued: int = 32,
    device: str = "cpu",
    threads: int | None = None,
) -> Flask:
    """Build the app. Results live under ``work_dir``; without one, a temporary folder removed on shutdown
    (``app.extensions["analogist_jobs"].close()``, also run at interpreter exit)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_mb * 1024 * 1024
    temporary = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="analogist-web-")) if temporary else Path(work_dir)
    store = JobStore(
        root, per_owner=per_owner, max_queued=max_queued, remove_root=temporary, device=device, threads=threads
    )
    app.extensions["analogist_jobs"] = store
    atexit.register(store.close)
    max_pixels = int(max_megapixels * 1_000_000)

    def error(message: str, status: int = 400) -> tuple[Response, int]:
        return jsonify({"error": message}), status

    @app.before_request
    def identify() -> None:
        token = request.cookies.get(COOKIE, "")
        g.new_owner = not _TOKEN.match(token)
        g.owner = secrets.token_urlsafe(32) if g.new_owner else token

    @app.after_request
    def headers(res: Response) -> Response:
        if g.get("new_owner"):
            res.set_cookie(COOKIE, g.owner, httponly=True, samesite="Strict", max_age=7 * 24 * 3600)
        res.headers["X-Content-Type-Options"] = "nosniff"
        res.headers["Content-Security-Policy"] = _CSP
        res.headers["Referrer-Policy"] = "no-referrer"
        return res

    @app.errorhandler(413)
    def too_large(_exc: Exception) -> tuple[Response, int]:
        return error(f"the upload is larger than {max_upload_mb} MB: use smaller image files", 413)

    def own_job(job_id: str) -> Job:
        job = store.get(job_id, g.owner) if _TOKEN.match(job_id) else None
        if job is None:
            abort(404)
        return job

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> tuple[Response, int]:
        return error("no such job or file", 404)

    @app.get("/")
    def index() -> Response:
        html = (resources.files(__package__) / "index.html").read_text(encoding="utf-8")
        return Response(html, mimetype="text/html")

    @app.get("/api/methods")
    def methods() -> Response:
        return jsonify(
            {
                "methods": [v.public() for v in TASKS.values()],
                "max_upload_mb": max_upload_mb,
                "max_megapixels": max_megapixels,
            }
        )

    @app.get("/api/examples/<name>")
    def example(name: str) -> Response:
        if name not in EXAMPLES:
            abort(404)
        return send_file(example_path(name), max_age=3600)

    @app.post("/api/jobs")
    def submit() -> tuple[Response, int]:
        try:
            view = get_task(request.form.get("method", ""))
            size, options = view.parse(request.form)
        except InputError as exc:
            return error(str(exc))
        uploads = [request.files.get("image_a"), request.files.get("image_b")]
        if not all(u and u.filename for u in uploads):
            return error(f"upload two images ({view.inputs[0]} and {view.inputs[1]})")
        folder = store.new_folder()
        try:
            inputs, names = [], []
            for key, upload in zip("ab", uploads):
                path = folder / f"{key}.upload"
                upload.save(path)
                names.append(display_name(upload.filename, f"image {key.upper()}"))
                inputs.append(check_upload(path, names[-1], max_pixels=max_pixels))
            job = store.submit(g.owner, view, size, options, (inputs[0], inputs[1]), folder, (names[0], names[1]))
        except Busy as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return error(str(exc), 429)
        except InputError as exc:
            shutil.rmtree(folder, ignore_errors=True)  # a refused upload leaves nothing and makes no job
            return error(str(exc))
        return jsonify(store.status(job)), 202

    @app.get("/api/jobs")
    def mine() -> Response:
        return jsonify({"jobs": [store.status(j) for j in store.jobs_of(g.owner)]})

    @app.get("/api/jobs/<job_id>")
    def status(job_id: str) -> Response:
        return jsonify(store.status(own_job(job_id)))

    @app.post("/api/jobs/<job_id>/cancel")
    def cancel(job_id: str) -> Response:
        job = own_job(job_id)
        store.cancel(job)
        return jsonify(store.status(job))

    @app.get("/api/jobs/<job_id>/inputs/<key>")
    def inputs(job_id: str, key: str) -> Response:
        job = own_job(job_id)  # the page shows them beside the result, also after a reload
        if key not in ("a", "b"):
            abort(404)
        return send_file(job.inputs["ab".index(key)], max_age=3600)

    @app.get("/api/jobs/<job_id>/files/<name>")
    def files(job_id: str, name: str) -> Response:
        job = own_job(job_id)
        if name not in {n for n, _ in job.outputs}:
            abort(404)
        return send_from_directory(job.out, name, as_attachment=request.args.get("download") == "1", max_age=0)

    return app
