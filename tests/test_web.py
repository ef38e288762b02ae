"""The web app: uploads are validated like the CLI's inputs, jobs run and serve their results."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

flask = pytest.importorskip("flask")

from analogist.data import example_path  # noqa: E402
from analogist.web import create_app  # noqa: E402


@pytest.fixture
def client(tmp_path):
    app = create_app(tmp_path)
    app.testing = True
    yield app.test_client(), app.extensions["analogist_jobs"]
    app.extensions["analogist_jobs"].close()


def _upload(path) -> tuple[io.BytesIO, str]:
    return io.BytesIO(path.read_bytes()), path.name


def test_page_and_methods(client):
    c, _ = client
    assert b"<form" in c.get("/").data
    assert set(c.get("/api/methods").json) == {"analogy", "buddies", "stylize"}


def test_job_runs_and_serves_its_result(client):
    c, store = client
    res = c.post("/api/jobs", data={"method": "buddies", "size": "64", "image_a": _upload(example_path("cat.jpg")),
                                    "image_b": _upload(example_path("cat_painting.jpg"))},
                 content_type="multipart/form-data")
    assert res.status_code == 202
    job_id = res.json["id"]
    store.wait(store.get(job_id), timeout=120)
    status = c.get(f"/api/jobs/{job_id}").json
    assert status["state"] == "done", status
    picture = c.get(f"/api/jobs/{job_id}/files/{status['outputs'][0]}")
    assert picture.status_code == 200
    im = np.asarray(Image.open(io.BytesIO(picture.data)))
    assert im.ndim == 3 and im.shape[1] > 64  # the two images side by side
    assert c.get(f"/api/jobs/{job_id}/files/../../etc/passwd").status_code == 404


def test_bad_requests_are_refused_with_a_message(client):
    c, _ = client
    cat = example_path("cat.jpg")
    bad = [
        ({"method": "nope", "image_a": _upload(cat), "image_b": _upload(cat)}, "unknown method"),
        ({"method": "buddies", "size": "5", "image_a": _upload(cat), "image_b": _upload(cat)}, "size"),
        ({"method": "buddies", "image_a": _upload(cat)}, "two images"),
        ({"method": "buddies", "image_a": (io.BytesIO(b"not an image"), "x.png"), "image_b": _upload(cat)},
         "x.png is not an image"),
    ]
    for data, message in bad:
        res = c.post("/api/jobs", data=data, content_type="multipart/form-data")
        assert res.status_code == 400 and message in res.json["error"], res.json
    assert c.get("/api/jobs/unknown").status_code == 404
