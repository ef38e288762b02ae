"""The web job's progress: :class:`analogist.tasks.progress.JobProgress`, shared with batch workers."""

from __future__ import annotations

from ..tasks.progress import Cancelled, JobProgress

__all__ = ["Cancelled", "JobProgress"]
