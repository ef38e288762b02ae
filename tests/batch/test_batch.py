"""``analogist batch``: job lists, failing jobs, resume after an interruption, and a real local Ray cluster."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import run_cli

from analogist.batch import plan_outputs, read_jobs, run_batch
from analogist.data import example_path
from analogist.errors import InputError

CAT, PAINTING = example_path("cat.jpg"), example_path("cat_painting.jpg")


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)
    return path


def _results(outdir: Path) -> dict[str, dict[str, str]]:
    with open(outdir / "results.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _job(job_id: str, size: str = "64", a: Path = CAT, **options: str) -> dict[str, str]:
    return {"id": job_id, "method": "buddies", "a": str(a), "b": str(PAINTING), "size": size, **options}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"method": "buddies", "a": "x.png"}], "needs a header with the columns method, a, b"),
        ([_job("x"), _job("x")], "id x is used twice"),
        ([_job("../up")], "must be letters, digits"),
        ([{**_job("x"), "colour": "1"}], "unknown columns colour"),
    ],
)
def test_bad_job_lists_are_refused(tmp_path, rows, message):
    with pytest.raises(InputError, match=message):
        read_jobs(_csv(tmp_path / "jobs.csv", rows))


def test_bad_rows_become_failed_jobs(tmp_path):
    jobs = read_jobs(
        _csv(
            tmp_path / "jobs.csv",
            [
                {"method": "nope", "a": "a.png", "b": "b.png"},
                {"method": "stylize", "a": "a.png", "b": "b.png", "gamma": "0.1"},
                {"method": "buddies", "a": "a.png", "b": "b.png", "size": "9999"},
                {"method": "buddies", "a": "a.png", "b": "b.png", "gamma": "0.2"},
            ],
        )
    )
    assert [j.id for j in jobs] == ["job-0001", "job-0002", "job-0003", "job-0004"]
    assert "unknown method 'nope'" in jobs[0].error
    assert jobs[1].error == "gamma does not apply to stylize"
    assert "size must be between 32 and 4096" in jobs[2].error
    assert jobs[3].error is None and dict(jobs[3].options)["gamma"] == 0.2
    assert jobs[3].a == str((tmp_path / "a.png").resolve())  # relative to the csv


@pytest.mark.slow
def test_local_run_failing_job_and_resume_after_interruption(tmp_path, capsys):
    jobs_csv = _csv(
        tmp_path / "jobs.csv", [_job("first"), _job("broken", a=tmp_path / "missing.jpg"), _job("second", k="3")]
    )
    out = tmp_path / "out"
    jobs = read_jobs(jobs_csv)
    seen = []

    def stop_after_one(iterable, **_):  # Ctrl-C right after the first job finished
        for item in iterable:
            seen.append(item)
            yield item
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, plan_outputs(jobs, out, [jobs_csv]), progress=stop_after_one)
    first = _results(out)
    assert first["first"]["status"] == "done" and first["second"]["status"] == "pending"
    record = out / "first" / "job.json"
    stamp = record.stat().st_mtime_ns
    assert not list(out.glob(".*part*"))  # no half-written job folder

    code, stdout, _ = run_cli(capsys, "batch", str(jobs_csv), "-o", str(out))
    assert code == 1  # one job failed
    rows = _results(out)
    assert [rows[k]["status"] for k in ("first", "broken", "second")] == ["skipped", "failed", "done"]
    assert rows["broken"]["error"] == f"no such file: {tmp_path / 'missing.jpg'}"
    assert record.stat().st_mtime_ns == stamp  # nothing done twice
    assert json.loads((out / "second" / "job.json").read_text())["options"]["k"] == 3
    assert (out / "second" / "buddies.png").is_file() and not (out / "broken").exists()
    assert "done   failed  skipped" in stdout and "failed broken: no such file" in stdout


def _kill_first_job_process(killed: list[int], deadline: float) -> None:
    """SIGKILL the first Ray worker process seen running a job (Ray titles it ``ray::run_job``)."""
    while time.monotonic() < deadline and not killed:
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        for line in ps.splitlines():
            pid, _, args = line.strip().partition(" ")
            if args.startswith("ray::run_job"):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def ray_cluster():
    """One real local Ray head with two worker CPUs on loopback, shared by the Ray tests (start-up is slow)."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_cluster_survives_a_killed_worker(ray_cluster, tmp_path, capsys):
    jobs_csv = _csv(tmp_path / "jobs.csv", [_job(f"j{i}") for i in range(4)])
    out = tmp_path / "out"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_first_job_process, args=(killed, time.monotonic() + 120), daemon=True)
    killer.start()
    code, stdout, stderr = run_cli(capsys, "batch", str(jobs_csv), "-o", str(out), "--engine", "ray", "--workers", "2")
    killer.join()
    assert killed, "no Ray worker was seen running a job"
    assert code == 0, stdout + stderr
    rows = _results(out)
    assert [r["status"] for r in rows.values()] == ["done"] * 4  # the killed job was rerun, nothing lost
    for i in range(4):
        assert json.loads((out / f"j{i}" / "job.json").read_text())["outputs"] == ["buddies.png", "points.csv"]
    assert not list(out.glob(".*part*"))


@pytest.mark.slow
def test_eval_on_ray_equals_local(ray_cluster, tmp_path):
    import numpy as np
    from test_eval import tss_dataset

    from analogist.eval.runner import EvalConfig, evaluate
    from analogist.eval.tss import tss_pairs

    pairs = tss_pairs(tss_dataset(tmp_path, np.random.default_rng(0)))
    config = EvalConfig("nn", "vgg16-hed", 64, options=(("layer", "relu3_3"),))
    local = evaluate("tss", pairs, config)
    remote = evaluate("tss", pairs, config, engine="ray", workers=2)
    assert [p.scores for p in remote.pairs] == [p.scores for p in local.pairs]
    assert remote.groups == local.groups and not remote.skipped
