"""``analogist batch``: many jobs from a csv, resumable, on this machine or a Ray cluster.

:func:`~analogist.batch.spec.read_jobs` parses the job list, :func:`~analogist.batch.runner.run_batch`
runs it through :func:`~analogist.batch.engines.map_unordered` (also used by ``analogist eval``).
"""

from .engines import ENGINES, map_unordered
from .runner import BatchReport, plan_outputs, run_batch
from .spec import BatchJob, read_jobs
from .worker import JobResult, finished, run_job

__all__ = [
    "ENGINES",
    "BatchJob",
    "BatchReport",
    "JobResult",
    "finished",
    "map_unordered",
    "plan_outputs",
    "read_jobs",
    "run_batch",
    "run_job",
]
