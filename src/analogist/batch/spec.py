"""The job list of ``analogist batch``: a csv with one job per row.

Columns: ``method`` (a task of :mod:`analogist.tasks`), ``a`` and ``b`` (image paths, relative to the
csv's folder), optional ``id`` (the job's output folder name; default ``job-0001``, ...), optional
``size`` (longer side; default the task's) and any of the method's options by name (see ``analogist
batch --help``); an empty cell takes the default. A row that names an unknown method, an option the
method does not have or a value out of range becomes a failed job with that one-line error; the
other rows still run.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import MAX_SIZE, MIN_SIZE
from ..tasks import TASKS, get_task, output_names

REQUIRED = ("method", "a", "b")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class BatchJob:
    """One row: what to run on which images; ``error`` is set when the row itself is invalid."""

    id: str
    method: str
    a: str
    b: str
    size: int = 0
    options: tuple[tuple[str, Any], ...] = ()
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """What a finished job's ``job.json`` must match for a rerun to skip it."""
        return {
            "id": self.id,
            "method": self.method,
            "a": self.a,
            "b": self.b,
            "size": self.size,
            "options": dict(self.options),
        }

    def outputs(self) -> list[str]:
        return output_names(get_task(self.method), dict(self.options)) if self.error is None else []


def _row_job(row: dict[str, str], job_id: str, root: Path) -> BatchJob:
    method, a, b = (row.get(k, "").strip() for k in REQUIRED)
    paths = [str((root / p).resolve()) if p else "" for p in (a, b)]
    try:
        if not a or not b:
            raise InputError("the row needs two images (columns a and b)")
        task = get_task(method)
        own = {"size", *(o.name for o in task.options)}
        stray = [k for k, v in row.items() if k not in (*REQUIRED, "id", *own) and (v or "").strip()]
        if stray:
            raise InputError(f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not apply to {method}")
        fields = {k: (v or "").strip() for k, v in row.items() if k in own}
        size, options = task.parse(fields, size_range=(MIN_SIZE, MAX_SIZE), columns=True)
    except InputError as exc:
        return BatchJob(job_id, method, paths[0], paths[1], error=str(exc))
    return BatchJob(job_id, method, paths[0], paths[1], size, tuple(sorted(options.items())))


def read_jobs(path: str | Path) -> list[BatchJob]:
    """Parse the job csv; a file without the needed columns, or with duplicate or unsafe ids, is refused."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such job list: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = [h.strip() for h in (rows[0].keys() if rows else [])]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path} is not a readable csv file ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    if not rows or missing:
        raise InputError(
            f"{path} needs a header with the columns method, a, b and at least one row"
            + (f" (missing: {', '.join(missing)})" if rows else "")
        )
    known = {*REQUIRED, "id", "size", *(o.name for t in TASKS.values() for o in t.options)}
    unknown = [h for h in header if h not in known]
    if unknown:
        raise InputError(f"{path} has unknown columns {', '.join(unknown)}: use {', '.join(sorted(known))}")
    jobs, seen = [], set()
    for n, raw in enumerate(rows, 1):
        row = {(k or "").strip(): v for k, v in raw.items()}
        job_id = (row.get("id") or "").strip() or f"job-{n:04d}"
        if not _ID.match(job_id):
            raise InputError(
                f"row {n} of {path}: id {job_id[:40]!r} must be letters, digits, '.', '_' or '-' "
                "(it names the job's output folder)"
            )
        if job_id in seen:
            raise InputError(f"row {n} of {path}: id {job_id} is used twice")
        seen.add(job_id)
        jobs.append(_row_job(row, job_id, path.parent))
    return jobs
