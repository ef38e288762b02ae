"""Time estimates, from recorded runs of the README's headline commands replayed on a fake clock.

``tests/fixtures/eta_traces.json`` holds each run's progress events with their real times
(``benchmarks/eta_traces.py`` records them). Once a quarter of a run's time has passed, every estimate the
page would show must be within 2x of the real time left (or none shown), and one must be shown for most
of the rest of the run; before a tenth of the work is done none is shown.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from analogist.tasks import TASKS
from analogist.tasks.progress import MIN_FRACTION, JobProgress, replay

TRACES = json.loads((Path(__file__).parents[1] / "fixtures" / "eta_traces.json").read_text())
#: Time left below which a relative error means nothing (writing the files after the last stage, the last
#: step's noise): 2 s or 3 % of the run.
SLACK, SLACK_SHARE = 2.0, 0.03


def estimates(name: str) -> list[tuple[float, float | None, float]]:
    trace = TRACES[name]
    task = TASKS[trace["task"]]
    return replay(trace["events"], task.stages(trace["size"], trace["options"]), estimate=task.estimates)


@pytest.mark.parametrize("name", sorted(TRACES))
def test_estimates_are_within_2x_after_a_quarter(name):
    rows = estimates(name)
    end = TRACES[name]["events"][-1][0]
    late = [(t, eta, left) for t, eta, left in rows if t >= end / 4 and left > max(SLACK, SLACK_SHARE * end)]
    bad = [
        (round(t, 1), round(eta, 1), round(left, 1))
        for t, eta, left in late
        if eta is not None and not left / 2 <= eta <= 2 * left
    ]
    assert not bad, f"{name}: (time, estimate, real time left) off by more than 2x: {bad[:5]}"
    shown = [eta for _, eta, _ in late if eta is not None]
    if TASKS[TRACES[name]["task"]].estimates:  # else none is shown, as the task declares
        assert len(shown) >= 0.5 * len(late), f"{name}: an estimate for only {len(shown)} of {len(late)} instants"


def test_no_estimate_before_a_tenth_of_the_work():
    now = [0.0]
    p = JobProgress([1.0, 1.0], threading.Event(), clock=lambda: now[0])
    assert p.eta() is None  # still loading
    steps = iter(p(range(10), desc="level"))
    next(steps)
    now[0] = 5.0
    next(steps)  # one step of ten in the first half: 5 % of the work
    assert p.fraction == pytest.approx(0.05) and p.fraction < MIN_FRACTION and p.eta() is None
    now[0] = 10.0
    next(steps)  # 10 % in 10 s: 90 s left, less the time since
    assert p.eta() == pytest.approx(90.0)
    now[0] = 40.0  # the step under way is overdue: the rate is at least 40 s per 15 %, the step half as long again
    assert p.eta() == pytest.approx(40.0 / 0.15 * 0.85 + 0.5 * 30.0)


def test_per_step_weights_follow_a_coarse_to_fine_loop():
    now = [0.0]
    p = JobProgress([[1.0, 3.0]], clock=lambda: now[0])
    steps = iter(p(range(2), desc="levels"))
    next(steps)
    now[0] = 4.0
    next(steps)  # the cheap level took 4 s: the costly one is three times that
    assert p.fraction == pytest.approx(0.25) and p.eta() == pytest.approx(12.0)
