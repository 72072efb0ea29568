"""Names both processes must agree on: statuses, steps, queue and actor."""

from __future__ import annotations

from enum import StrEnum

#: Dramatiq queue the API enqueues to and the worker consumes.
QUEUE_NAME = "mrimesh-jobs"
#: Dramatiq actor that processes one job; it takes a single argument, the job id.
ACTOR_NAME = "process_job"
#: Dramatiq actor that re-makes a finished job's pieces with new print options (issue 11): it
#: takes the new job's id; the job it starts from and the options are in the new job's store.
REMAKE_ACTOR_NAME = "remake_job"
#: Actors whose messages carry a job id and go through the job lifecycle.
JOB_ACTORS = frozenset({ACTOR_NAME, REMAKE_ACTOR_NAME})


class JobKind(StrEnum):
    """What a job starts from: an uploaded scan, or an earlier job's label map (a re-make)."""

    SCAN = "scan"
    REMAKE = "remake"


def actor_of(kind: str | None) -> str:
    """The actor that runs a job of ``kind`` (None is a scan)."""
    return REMAKE_ACTOR_NAME if kind == JobKind.REMAKE else ACTOR_NAME


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
    """Pipeline steps by stable id, in execution order.

    The id is what Redis keys, metric labels, the timing history and report.json use; it never
    changes. What a person reads is :attr:`label` (from :data:`STEP_LABELS`), free to be reworded.
    """

    LOADING = "loading"
    PREPARING = "preparing"
    SEGMENTING = "segmenting"
    CLEANING_UP = "cleaning_up"
    LOADING_LABELS = "loading_labels"  #: a re-make's first step: the saved label map
    MESHING = "meshing"
    EXPORTING = "exporting"
    PACKAGING = "packaging"

    @property
    def label(self) -> str:
        """The step as a person reads it (``/status``'s ``current_step``)."""
        return STEP_LABELS[self.value]


#: The words people read for each step id; reword freely, ids and history do not move.
STEP_LABELS: dict[str, str] = {
    Step.LOADING: "Loading scan",
    Step.PREPARING: "Preparing",
    Step.SEGMENTING: "Segmenting",
    Step.CLEANING_UP: "Cleaning up",
    Step.LOADING_LABELS: "Loading segmentation",
    Step.MESHING: "Generating meshes",
    Step.EXPORTING: "Exporting",
    Step.PACKAGING: "Packaging",
}

#: Steps in the order a job runs them.
STEPS: tuple[Step, ...] = tuple(Step)
#: Step ids as plain strings, in order.
STEP_IDS: tuple[str, ...] = tuple(step.value for step in STEPS)

#: What Redis held before steps had ids (labels of 2026-11, frozen: never edit these when a
#: label is reworded). :func:`step_id` and the start-up migration read them.
LEGACY_STEP_LABELS: dict[str, str] = {
    "Loading scan": Step.LOADING,
    "Preparing": Step.PREPARING,
    "Segmenting": Step.SEGMENTING,
    "Cleaning up": Step.CLEANING_UP,
    "Generating meshes": Step.MESHING,
    "Exporting": Step.EXPORTING,
    "Packaging": Step.PACKAGING,
}


def step_id(text: str) -> str:
    """The id of a step named by its id or by a label stored before steps had ids."""
    return LEGACY_STEP_LABELS.get(text, text)


def step_label(step: str | None) -> str | None:
    """The label people read for a step id (an unknown id reads as itself)."""
    if not step:
        return None
    return STEP_LABELS.get(step_id(step), step)


#: Share of a job's time each step takes before any history exists; used only to move the
#: progress bar, never to produce an ETA. Measured on a 1 mm brain, 2 CPU cores (bench/README.md):
#: "meshing" includes writing the mesh files, so "exporting" is short.
PRIOR_STEP_WEIGHTS: dict[str, float] = {
    Step.LOADING: 0.02,
    Step.PREPARING: 0.03,
    Step.SEGMENTING: 0.45,
    Step.CLEANING_UP: 0.06,
    Step.LOADING_LABELS: 0.0,  # a scan's job never runs it
    Step.MESHING: 0.37,
    Step.EXPORTING: 0.02,
    Step.PACKAGING: 0.05,
}

#: The same for a re-make (issue 11), which meshes a saved label map: measured on the 2 mm T1 of
#: ../shared/data, 2 CPU cores (bench/README.md).
REMAKE_PRIOR_STEP_WEIGHTS: dict[str, float] = {
    Step.LOADING_LABELS: 0.05,
    Step.MESHING: 0.75,
    Step.EXPORTING: 0.05,
    Step.PACKAGING: 0.15,
}


def prior_step_weights(kind: str | None) -> dict[str, float]:
    """The prior step weights for a job of ``kind`` (``JobKind``; None is a scan)."""
    return dict(REMAKE_PRIOR_STEP_WEIGHTS if kind == JobKind.REMAKE else PRIOR_STEP_WEIGHTS)
