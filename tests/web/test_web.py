"""The web app over HTTP: uploads checked like the CLI's inputs, jobs queued, owned and never evicted."""

from __future__ import annotations

import io
import json
import threading
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

flask = pytest.importorskip("flask")

from web_server import live_server  # noqa: E402

from analogist.data import example_path  # noqa: E402
from analogist.tasks import TASKS, Task  # noqa: E402
from analogist.web import create_app  # noqa: E402
from analogist.web.jobs import JobStore  # noqa: E402

CAT, PAINTING = example_path("cat.jpg"), example_path("cat_painting.jpg")


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "work", max_upload_mb=2, max_megapixels=1)
    app.testing = True
    yield app
    app.extensions["analogist_jobs"].close()


def _file(path) -> tuple[io.BytesIO, str]:
    return io.BytesIO(path.read_bytes()), path.name


def _png(w: int, h: int, fmt: str = "PNG") -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(buf, format=fmt)  # flat: small files
    buf.seek(0)
    return buf


def _submit(client, method="buddies", size="64", a=None, b=None, **options):
    data = {"method": method, "size": size, "image_a": a or _file(CAT), "image_b": b or _file(PAINTING), **options}
    return client.post("/api/jobs", data=data, content_type="multipart/form-data")


def test_page_lists_every_view(app):
    c = app.test_client()
    page = c.get("/")
    assert b"drop an image" in page.data and page.headers["X-Content-Type-Options"] == "nosniff"
    names = [m["name"] for m in c.get("/api/methods").json["methods"]]
    assert {"analogy", "buddies", "align", "hybrid", "morph", "stylize"} <= set(names) == set(TASKS)
    assert c.get("/static/app.js").status_code == 200
    assert c.get("/api/examples/cat.jpg").data == CAT.read_bytes()
    assert c.get("/api/examples/..%2F..%2Fio.py").status_code == 404


def test_job_runs_serves_results_and_hides_them_from_other_browsers(app):
    c, store = app.test_client(), app.extensions["analogist_jobs"]
    res = _submit(c)
    assert res.status_code == 202, res.json
    job_id = res.json["id"]
    assert len(job_id) >= 24
    store.wait(store.get(job_id, c.get_cookie("analogist_session").value), timeout=300)
    status = c.get(f"/api/jobs/{job_id}").json
    assert status["state"] == "done" and status["fraction"] == 1.0, status
    names = [o["name"] for o in status["outputs"]]
    assert names[0] == "buddies.png" and "results.zip" in names
    picture = c.get(f"/api/jobs/{job_id}/files/buddies.png?download=1")
    assert "attachment" in picture.headers["Content-Disposition"]
    im = np.asarray(Image.open(io.BytesIO(picture.data)))
    assert im.ndim == 3 and im.shape[1] > 64  # the two images side by side
    with zipfile.ZipFile(io.BytesIO(c.get(f"/api/jobs/{job_id}/files/results.zip").data)) as zf:
        assert set(zf.namelist()) == set(names) - {"results.zip"}

    stranger = app.test_client()  # another browser: its own cookie
    for url in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/files/buddies.png"):
        assert stranger.get(url).status_code == 404
    assert stranger.post(f"/api/jobs/{job_id}/cancel").status_code == 404
    assert stranger.get("/api/jobs").json["jobs"] == []
    guessed = job_id[:-1] + ("A" if job_id[-1] != "A" else "B")
    for url in (
        f"/api/jobs/{guessed}",
        f"/api/jobs/{job_id}/files/../../../etc/passwd",
        f"/api/jobs/{job_id}/files/..%2Fa.jpg",
        "/api/jobs/..%2F..%2Fetc",
        f"/api/jobs/{job_id}/files/a.jpg",
    ):
        assert c.get(url).status_code == 404, url

    # refused uploads make no job and leave no folder, and never push the finished job out
    folders = set(store.root.iterdir())
    for _ in range(25):
        assert _submit(c, a=(io.BytesIO(b"not an image"), "x.png")).status_code == 400
    assert set(store.root.iterdir()) == folders
    assert c.get(f"/api/jobs/{job_id}").json["state"] == "done"
    assert c.get(f"/api/jobs/{job_id}/files/buddies.png").status_code == 200


@pytest.mark.parametrize(
    "form, upload, message",
    [
        ({"method": "nope"}, None, "unknown method"),
        ({"size": "5"}, None, "size must be between 64 and 512"),
        ({"size": "big"}, None, "size must be a number"),
        ({"gamma": "2"}, None, "activation threshold must be between 0 and 0.99"),
        ({}, (io.BytesIO(b"not an image"), "notes.png"), "notes.png is not an image analogist can read"),
        ({}, (io.BytesIO(b""), "empty.jpg"), "empty.jpg is empty"),
        ({}, "1x1", "is 1x1 pixels: upload an image at least 16 pixels on each side"),
        ({}, "ppm", "is a PPM image: upload a PNG, JPEG"),
        ({}, "huge", "is 1200x1000 pixels, more than the 1 megapixels"),
        ({}, "truncated", "truncated"),
    ],
)
def test_refused_uploads_say_why_in_one_line(app, form, upload, message):
    if upload == "1x1":
        upload = (_png(1, 1), "dot.png")
    elif upload == "ppm":
        upload = (_png(32, 32, "PPM"), "p.ppm")
    elif upload == "huge":
        upload = (_png(1200, 1000), "huge.png")
    elif upload == "truncated":
        upload = (io.BytesIO(CAT.read_bytes()[:3000]), "cut.jpg")
    res = _submit(app.test_client(), a=upload, **{"method": "buddies", **form})
    text = res.json["error"]
    assert res.status_code == 400 and message in text, text
    assert "\n" not in text and "Error" not in text and "/" not in text.replace("/api", "")


def test_upload_over_the_byte_limit(app):
    res = _submit(app.test_client(), a=(io.BytesIO(b"\0" * 3 * 1024 * 1024), "big.png"))
    assert res.status_code == 413 and res.json["error"] == "the upload is larger than 2 MB: use smaller image files"


def test_missing_upload(app):
    res = app.test_client().post(
        "/api/jobs", data={"method": "buddies", "image_a": _file(CAT)}, content_type="multipart/form-data"
    )
    assert res.status_code == 400 and res.json["error"] == "upload two images (A and B)"


def _blocking_task(gate: threading.Event) -> Task:
    def run(a, b, opts, plan, progress):
        for _ in progress(range(1000), desc="waiting"):
            gate.wait(0.01)
            if gate.is_set():
                break
        plan.save_image("out.png", a)

    return Task(
        name="block",
        title="block",
        description="",
        inputs=("A", "B"),
        examples=("cat.jpg", "cat.jpg"),
        outputs=lambda o: [("out.png", "main")],
        run=run,
        size=(64, 64, 64),
    )


def test_queue_is_fair_limited_and_cancellable(tmp_path):
    gate = threading.Event()
    view = _blocking_task(gate)
    store = JobStore(tmp_path / "w", per_owner=3, max_queued=4)
    try:

        def submit(owner):
            folder = store.new_folder()
            return store.submit(owner, view, 64, {}, (CAT, PAINTING), folder)

        first = submit("x" * 24)
        xs = [submit("x" * 24), submit("x" * 24)]
        with pytest.raises(Exception, match="you have 3 jobs waiting or running"):
            submit("x" * 24)
        y = submit("y" * 24)
        while first.state != "running":
            threading.Event().wait(0.01)
        # y has had no job started yet: it goes before x's second and third
        assert [store.status(j)["position"] for j in (y, *xs)] == [1, 2, 3]
        submit("z" * 24)
        with pytest.raises(Exception, match="the server has 4 jobs waiting"):
            submit("w" * 24)
        store.cancel(xs[1])
        assert xs[1].state == "cancelled"
        store.max_stored = len(store.jobs_of("x" * 24)) + 2  # y's and z's: the store is full
        with pytest.raises(Exception, match="holds as many results as it keeps"):
            submit("v" * 24)
        store.max_stored = 500
        store.cancel(first)  # running: stops at its next progress step, writes nothing
        store.wait(first, 10)
        assert first.state == "cancelled"
        assert not first.out.exists() or not any(first.out.iterdir())  # the plan removed what it had begun
        gate.set()
        store.wait(y, 30)
        assert y.state == "done" and (y.out / "out.png").is_file()
        assert store.status(y)["outputs"][0] == {"name": "out.png", "role": "main"}
    finally:
        gate.set()
        store.close()


def test_temporary_work_folder_is_removed_and_a_named_one_kept(tmp_path):
    temp = create_app()
    root = temp.extensions["analogist_jobs"].root
    assert root.is_dir()
    temp.extensions["analogist_jobs"].close()
    assert not root.exists()
    named = create_app(tmp_path / "mine")
    named.extensions["analogist_jobs"].close()
    assert (tmp_path / "mine").is_dir()


def test_ten_concurrent_submissions_over_http(tmp_path):
    body, boundary = _multipart({"method": "buddies", "size": "64"}, {"image_a": CAT, "image_b": PAINTING})
    answers: list = [None] * 10
    with live_server(tmp_path / "w") as (url, app):

        def submit(i):  # no cookie: ten different browsers
            req = urllib.request.Request(
                url + "api/jobs",
                data=body,
                method="POST",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            with urllib.request.urlopen(req, timeout=60) as res:
                answers[i] = (res.status, json.loads(res.read()), res.headers["Set-Cookie"].split(";")[0])

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a[0] for a in answers] == [202] * 10
        assert len({a[1]["id"] for a in answers}) == 10 and len({a[2] for a in answers}) == 10
        assert all(a[1]["position"] is None or 1 <= a[1]["position"] <= 10 for a in answers)
        store = app.extensions["analogist_jobs"]
        jobs = [store.get(job["id"], cookie.split("=", 1)[1]) for _, job, cookie in answers]
        with store._cond:  # one snapshot of the queue: every waiting job has its own place
            queued = sorted(p for p in (store.status(j)["position"] for j in jobs) if p is not None)
        assert queued == list(range(1, len(queued) + 1)) and len(queued) >= 8
        for _, job, cookie in answers:
            req = urllib.request.Request(f"{url}api/jobs/{job['id']}/cancel", method="POST", headers={"Cookie": cookie})
            urllib.request.urlopen(req, timeout=30).close()
        for job in jobs:
            store.wait(job, 120)
            assert job.state in ("cancelled", "done")


def _multipart(fields: dict[str, str], files: dict[str, Path]) -> tuple[bytes, str]:
    boundary = "analogist-test-boundary"
    buf = io.BytesIO()
    for k, v in fields.items():
        buf.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, p in files.items():
        buf.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{p.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        buf.write(p.read_bytes() + b"\r\n")
    buf.write(f"--{boundary}--\r\n".encode())
    return buf.getvalue(), boundary


def test_decoder_preset_falls_back_to_fast_without_a_checkpoint(monkeypatch, caplog):
    from analogist import methods
    from analogist.methods.nnst import PRESETS
    from analogist.tasks import stylize as builtin

    monkeypatch.setattr(methods.nnst, "find_decoder", lambda explicit=None: None)
    opts = {"preset": "decoder", "alpha": 0.25, "color": True, "seed": 0, "steps": 0}
    params = builtin._stylize_params(opts)  # the rule of the command line: fast, with a warning
    assert params.form == "training-free" and params.steps == PRESETS["fast"].steps
    assert "no NNST-D decoder checkpoint found" in caplog.text
    monkeypatch.setattr(methods.nnst, "find_decoder", lambda explicit=None: Path("d.pt"))
    params = builtin._stylize_params(opts)
    assert params.form == "learned" and params.checkpoint == "d.pt"
