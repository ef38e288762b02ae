"""Batch runs as people watch them: workers share the cores, the bar shows running stages, a resume keeps
the skipped jobs' rows, and errors name the csv's columns."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
from test_batch import _csv, _job

from analogist import threads
from analogist.batch import plan_outputs, read_jobs, run_batch
from analogist.batch.engines import _PrivateClusterNotices, map_local
from analogist.batch.progress import FileProgress, Watcher, progress_file, read_progress
from analogist.batch.worker import RECORD
from analogist.threads import free_cores, settings, threads_for


def test_local_workers_share_the_cores_before_torch_loads():
    """Each spawned worker's pools are sized by its environment (read when torch loads), not only later."""
    seen = [r for _, r in map_local(settings, [()] * 2, workers=2, threads=1)]
    assert [s["torch"] for s in seen] == [1, 1]
    assert all(s["OMP_NUM_THREADS"] == "1" and s["MKL_NUM_THREADS"] == "1" for s in seen)
    assert all(s["OMP_WAIT_POLICY"] == "PASSIVE" for s in seen)
    assert threads_for(4, total=16) == 4 and threads_for(4, total=2) == 1 and threads_for(1, total=8) == 8


def test_threads_leave_out_the_cores_other_work_keeps_busy(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    proc = tmp_path / "loadavg"
    for line, free in [("0.1 0.2 0.3 1/150 99", 4), ("3.0 2.0 1.0 3/150 99", 2), ("9.0 9.0 9.0 12/150 99", 1)]:
        proc.write_text(line)  # runnable threads, the one asking included
        assert free_cores(samples=2, interval=0, loadavg=str(proc)) == free
    assert free_cores(loadavg=str(tmp_path / "missing")) == 4  # unknown: every core


def test_a_resume_keeps_the_skipped_jobs_earlier_rows(tmp_path):
    jobs = read_jobs(_csv(tmp_path / "jobs.csv", [_job("old")]))
    (tmp_path / "out" / "old").mkdir(parents=True)
    record = {**jobs[0].record(), "outputs": ["buddies.png", "points.csv"], "seconds": 12.5, "host": "node-3"}
    (tmp_path / "out" / "old" / RECORD).write_text(json.dumps(record))
    report = run_batch(jobs, plan_outputs(jobs, tmp_path / "out", [tmp_path / "jobs.csv"]))
    with open(tmp_path / "out" / "results.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row == {
        "id": "old",
        "method": "buddies",
        "status": "skipped",
        "seconds": "12.50",
        "error": "",
        "outputs": "buddies.png points.csv",
        "host": "node-3",
    }
    assert report.count("skipped") == 1


@pytest.mark.parametrize(
    "options, message",
    [({"k": "0"}, "k must be between 1 and 200, got 0"), ({"gamma": "x"}, "gamma must be a number, got 'x'")],
)
def test_row_errors_name_the_csv_column(tmp_path, options, message):
    (job,) = read_jobs(_csv(tmp_path / "jobs.csv", [_job("j", **options)]))
    assert job.error == message  # the column the user wrote, not the page's label ("pairs shown")


def test_the_bar_shows_the_running_jobs_stages(tmp_path):
    a = FileProgress([1.0, 3.0], progress_file(tmp_path, "a"))
    b = FileProgress([1.0], progress_file(tmp_path, "b"))
    steps = a(range(4), desc="coarse level")
    for _ in zip(range(3), steps):
        pass
    a._written = 0.0  # publish now rather than after the half-second throttle
    a.step(3)
    assert read_progress(a.path) == ("coarse level", 0.188)  # 3 of 4 steps of the first quarter
    list(b(range(2), desc="warp"))  # published as it began; later steps within the throttle wait

    class Bar:
        n = 0.0
        text = ""

        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            self.text = text

    count, text = Watcher(Bar(), tmp_path, lambda: ["a", "b", "c"], lambda: 2).line()
    assert text == "a: coarse level 19% · b: warp 0%"
    assert count == pytest.approx(2 + 0.188)
    a.remove()
    assert read_progress(a.path) is None and not Path(a.path).exists()


def test_ray_token_notice_stays_out_of_the_bar(caplog):
    notice = logging.LogRecord(
        "ray", logging.WARNING, __file__, 1, "Token authentication is disabled for ...", (), None
    )
    other = logging.LogRecord("ray", logging.WARNING, __file__, 1, "something else", (), None)
    with caplog.at_level(logging.DEBUG, logger="analogist"):
        assert _PrivateClusterNotices().filter(notice) is False
        assert _PrivateClusterNotices().filter(other) is True
    assert "Token authentication" in caplog.text  # kept for -v, at debug level
