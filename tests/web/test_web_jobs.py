"""A browser's jobs over HTTP: listed again after a reload (same cookie), their inputs, queue places, notes."""

from __future__ import annotations

import threading

import pytest

flask = pytest.importorskip("flask")

from test_web import CAT, PAINTING, _blocking_task, _file, _submit  # noqa: E402

from analogist.data import example_path  # noqa: E402
from analogist.tasks import TASKS  # noqa: E402
from analogist.tasks.confidence import ADVICE  # noqa: E402
from analogist.web import create_app  # noqa: E402
from analogist.web.jobs import JobStore  # noqa: E402

COOKIE = "analogist_session"


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "work")
    app.testing = True
    yield app
    app.extensions["analogist_jobs"].close()


def test_jobs_are_listed_again_with_the_same_cookie_and_to_no_one_else(app):
    first = app.test_client()
    job_id = _submit(first).json["id"]
    token = first.get_cookie(COOKIE).value
    store = app.extensions["analogist_jobs"]
    store.wait(store.get(job_id, token), timeout=300)

    reloaded = app.test_client()  # a new tab, or the browser restarted: only the cookie carries over
    reloaded.set_cookie(COOKIE, token)
    jobs = reloaded.get("/api/jobs").json["jobs"]
    assert [j["id"] for j in jobs] == [job_id]
    assert jobs[0]["state"] == "done" and jobs[0]["method"] == "buddies"
    assert jobs[0]["names"] == ["cat.jpg", "cat_painting.jpg"] and jobs[0]["created"] > 0
    assert reloaded.get(f"/api/jobs/{job_id}/files/buddies.png").status_code == 200
    assert reloaded.get(f"/api/jobs/{job_id}/inputs/a").data == CAT.read_bytes()  # shown beside the result
    assert reloaded.get(f"/api/jobs/{job_id}/inputs/b").data == PAINTING.read_bytes()
    assert reloaded.get(f"/api/jobs/{job_id}/inputs/c").status_code == 404

    stranger = app.test_client()
    assert stranger.get("/api/jobs").json["jobs"] == []
    assert stranger.get(f"/api/jobs/{job_id}/inputs/a").status_code == 404


def test_queue_says_how_many_jobs_run_before_yours(tmp_path):
    gate = threading.Event()
    view = _blocking_task(gate)
    store = JobStore(tmp_path / "w", per_owner=3)
    try:
        jobs = [store.submit(o * 24, view, 64, {}, (CAT, PAINTING), store.new_folder()) for o in "xyz"]
        while jobs[0].state != "running":
            threading.Event().wait(0.01)
        # the running job is ahead of the next one: "1 job ahead", not "starting"
        assert [(store.status(j)["position"], store.status(j)["ahead"]) for j in jobs] == [(None, None), (1, 1), (2, 2)]
        assert store.jobs_of("y" * 24) == [jobs[1]]
    finally:
        gate.set()
        store.close()


def test_methods_that_match_by_meaning_say_so():
    public = {t.name: t.public() for t in TASKS.values()}
    assert {n for n, p in public.items() if p["advice"] == ADVICE} >= {"analogy", "align", "hybrid", "morph"}
    assert public["stylize"]["advice"] == ""  # any style image will do


def test_weak_correspondences_are_noted_beside_the_result(app):
    """An astronaut and swirls: best buddies are found, but the aligned images' deep features agree
    little (0.069 at 96 px; face pairs 0.127 or more); the page hears it."""
    c = app.test_client()
    store = app.extensions["analogist_jobs"]
    a, b = example_path("astronaut.jpg"), example_path("swirls.jpg")
    res = _submit(c, method="align", size="96", a=_file(a), b=_file(b))
    job = store.get(res.json["id"], c.get_cookie(COOKIE).value)
    store.wait(job, timeout=300)
    status = c.get(f"/api/jobs/{job.id}").json
    assert status["state"] == "done", status
    assert any("correspondences are weak" in w and "deep features agree at only" in w for w in status["warnings"])
    res = _submit(c, method="align", size="160")  # the bundled related pair: no such note
    job = store.get(res.json["id"], c.get_cookie(COOKIE).value)
    store.wait(job, timeout=300)
    assert c.get(f"/api/jobs/{job.id}").json["warnings"] == []
