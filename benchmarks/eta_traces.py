"""Record how the README's headline commands report progress, for the time-estimate test.

    python benchmarks/eta_traces.py [-o tests/fixtures/eta_traces.json] [--only stylize-512,...]
    python benchmarks/eta_traces.py --replay        # the estimates' accuracy on the recorded runs

Each run goes through its web/batch task (the same library calls as its command) with a progress
function that logs every loop's start, every step and every end with its wall time. The test
``tests/tasks/test_eta.py`` replays these logs through :class:`analogist.tasks.progress.JobProgress` on a fake
clock and checks the estimate against the real time left. Prints each run's seconds and the CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from analogist.outputs import OutputPlan
from analogist.tasks import TASKS, example_files, output_names
from analogist.tasks.progress import replay

#: name -> (task, size, options beyond the task's defaults): the README's headline commands, and the
#: page's defaults where they differ.
RUNS = {
    "analogy-128": ("analogy", 128, {}),
    "appearance-160": ("appearance", 160, {}),
    "analogy-224": ("analogy", 224, {}),
    "buddies-224": ("buddies", 224, {}),
    "hybrid-224": ("hybrid", 224, {}),
    "morph-224": ("morph", 224, {"frames": "25"}),
    "stylize-512": ("stylize", 512, {}),
    "stylize-128": ("stylize", 128, {}),
    "appearance-256": ("appearance", 256, {"texture_level": "2", "threshold": "1"}),
    "samnet-224": ("samnet", 224, {}),
}


class Recorder:
    """A progress function that logs ``[seconds, event, ...]`` rows: enter (desc, total), step (i), leave."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.events: list[list] = []

    def _log(self, *row) -> None:
        self.events.append([round(time.perf_counter() - self.t0, 4), *row])

    def __call__(self, iterable, *, total=None, desc=None):
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        return self._run(iterable, total, desc or "working")

    def _run(self, iterable, total, desc):
        self._log("enter", desc, total)
        try:
            for i, item in enumerate(iterable):
                if i:
                    self._log("step", i)
                yield item
        finally:
            self._log("leave")


def record(name: str) -> dict:
    task_name, size, raw = RUNS[name]
    task = TASKS[task_name]
    size, options = task.parse({"size": str(size), **raw})
    a, b = task.load_inputs(*example_files(task), size)
    rec = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        plan = OutputPlan.folder(Path(tmp) / "out", output_names(task, options))
        with plan:
            task.run(a, b, {**options, "device": "cpu"}, plan, rec)
    rec._log("end")
    return {"task": task_name, "size": size, "options": options, "events": rec.events}


def accuracy(traces: dict) -> None:
    """Per run, once a quarter of its time has passed (and more than 2 s or 3 % of it is left): the
    estimate over the real time left, worst low, median and worst high, and how often one is shown."""
    print(f"{'run':15} {'seconds':>8} {'low':>6} {'median':>7} {'high':>6} {'shown':>6}")
    for name, trace in traces.items():
        task = TASKS[trace["task"]]
        end = trace["events"][-1][0]
        rows = replay(trace["events"], task.stages(trace["size"], trace["options"]), estimate=task.estimates)
        late = [(eta, left) for t, eta, left in rows if t >= end / 4 and left > max(2.0, 0.03 * end)]
        r = sorted(eta / left for eta, left in late if eta is not None)
        figures = f"{r[0]:>6.2f} {r[len(r) // 2]:>7.2f} {r[-1]:>6.2f}" if r else f"{'-':>6} {'-':>7} {'-':>6}"
        print(f"{name:15} {end:>8.1f} {figures} {len(r) / max(1, len(late)):>6.0%}   ({trace['cpu']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="tests/fixtures/eta_traces.json")
    ap.add_argument("--only", default=",".join(RUNS), help="comma-separated run names")
    ap.add_argument("--replay", action="store_true", help="print the estimates' accuracy on the recorded runs")
    args = ap.parse_args()
    out = Path(args.output)
    traces = json.loads(out.read_text()) if out.is_file() else {}
    if args.replay:
        accuracy(traces)
        return
    cpu = platform.processor() or platform.machine()
    for name in args.only.split(","):
        traces[name] = {**record(name), "cpu": cpu}
        print(f"{name}: {traces[name]['events'][-1][0]:.1f} s ({cpu})", flush=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(traces, indent=0))
        tmp.replace(out)


if __name__ == "__main__":
    main()
