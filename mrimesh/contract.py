"""Names both processes must agree on: statuses, steps, queue and actor."""

from __future__ import annotations

from enum import StrEnum

#: Dramatiq queue the API enqueues to and the worker consumes.
QUEUE_NAME = "mrimesh-jobs"
#: Dramatiq actor that processes one job; it takes a single argument, the job id.
ACTOR_NAME = "process_job"


class JobStatus(StrEnum):
    """Lifecycle of a job, as ``/status`` reports it."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once the job will never change again (except to expire)."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED}
)


class Step(StrEnum):
    """Pipeline steps, named as a user reads them, in execution order."""

    LOADING = "Loading scan"
    PREPARING = "Preparing"
    SEGMENTING = "Segmenting"
    CLEANING_UP = "Cleaning up"
    MESHING = "Generating meshes"
    EXPORTING = "Exporting"
    PACKAGING = "Packaging"


#: Steps in the order a job runs them.
STEPS: tuple[Step, ...] = tuple(Step)
#: Step names as plain strings, in order.
STEP_NAMES: tuple[str, ...] = tuple(step.value for step in STEPS)

#: Share of a job's time each step takes before any history exists; used only to move the
#: progress bar, never to produce an ETA. Measured on a 1 mm brain, 2 CPU cores (bench/README.md):
#: "Generating meshes" includes writing the mesh files, so "Exporting" is short.
PRIOR_STEP_WEIGHTS: dict[str, float] = {
    Step.LOADING.value: 0.02,
    Step.PREPARING.value: 0.03,
    Step.SEGMENTING.value: 0.45,
    Step.CLEANING_UP.value: 0.06,
    Step.MESHING.value: 0.37,
    Step.EXPORTING.value: 0.02,
    Step.PACKAGING.value: 0.05,
}
