"""All configuration, read in one place from ``MRIMESH_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

#: Redis connection URL.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Where uploads and results live (one folder per job).
DEFAULT_DATA_DIR = "./var/data"
#: TCP port the API listens on.
DEFAULT_PORT = 8000
#: Address the API binds to ("0.0.0.0" inside containers).
DEFAULT_BIND_HOST = "127.0.0.1"
#: Gunicorn worker processes for the API (each runs several threads).
DEFAULT_API_WORKERS = 2
#: Largest accepted upload, in bytes (1 GiB).
DEFAULT_MAX_UPLOAD_BYTES = 1024**3
#: How long a job and its files are kept after creation, in seconds (24 h).
DEFAULT_JOB_TTL_SECONDS = 24 * 3600
#: How long an expired job's tombstone still answers ``status: expired``, in seconds (7 days).
DEFAULT_TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600
#: How many times a job may be started before it is failed for good.
DEFAULT_MAX_ATTEMPTS = 3
#: Wall-clock limit for one attempt of one job, in seconds.
DEFAULT_JOB_TIME_LIMIT_SECONDS = 1800
#: How often a worker refreshes its liveness record, in seconds.
DEFAULT_WORKER_HEARTBEAT_SECONDS = 5
#: A worker (or a running job) silent for longer than this is considered dead, in seconds.
DEFAULT_WORKER_TIMEOUT_SECONDS = 30
#: Seconds between two janitor sweeps (expiry, crashed-worker recovery, stray files).
DEFAULT_JANITOR_INTERVAL_SECONDS = 10.0
#: How many finished jobs the rolling timing window keeps.
DEFAULT_TIMING_WINDOW = 20
#: Minimum time between two progress writes for one job, in seconds.
DEFAULT_PROGRESS_WRITE_INTERVAL_SECONDS = 0.25
#: Uploads allowed per client address (flask-limiter syntax).
DEFAULT_UPLOAD_RATE_LIMIT = "30 per hour"
#: Status/download requests allowed per client address and job (a 2 s poll needs 30 per minute).
DEFAULT_POLL_RATE_LIMIT = "120 per minute"
#: Reverse proxies in front of the API whose X-Forwarded-For is trusted (1 behind nginx).
DEFAULT_PROXY_HOPS = 0
#: Torch device for inference: "auto" (cuda if available, else cpu), "cuda", "cuda:N" or "cpu".
DEFAULT_DEVICE = "auto"
#: Optional path to a MONAI bundle directory used instead of the built-in segmenter.
DEFAULT_MODEL_BUNDLE = ""
#: Helper processes each worker meshes structures in (0: one per core, at most 4; 1: none,
#: meshing runs in the worker process itself).
DEFAULT_MESH_PROCESSES = 0
#: Key prefix for every Redis key this project writes.
DEFAULT_KEY_PREFIX = "mrimesh"
#: Namespace of Dramatiq's own Redis keys.
DEFAULT_DRAMATIQ_NAMESPACE = "dramatiq"

_ENV_PREFIX = "MRIMESH_"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service, with its unit in the name or docstring above."""

    redis_url: str = DEFAULT_REDIS_URL
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    port: int = DEFAULT_PORT
    bind_host: str = DEFAULT_BIND_HOST
    api_workers: int = DEFAULT_API_WORKERS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    job_ttl_seconds: int = DEFAULT_JOB_TTL_SECONDS
    tombstone_ttl_seconds: int = DEFAULT_TOMBSTONE_TTL_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    job_time_limit_seconds: int = DEFAULT_JOB_TIME_LIMIT_SECONDS
    worker_heartbeat_seconds: float = DEFAULT_WORKER_HEARTBEAT_SECONDS
    worker_timeout_seconds: float = DEFAULT_WORKER_TIMEOUT_SECONDS
    janitor_interval_seconds: float = DEFAULT_JANITOR_INTERVAL_SECONDS
    timing_window: int = DEFAULT_TIMING_WINDOW
    progress_write_interval_seconds: float = DEFAULT_PROGRESS_WRITE_INTERVAL_SECONDS
    upload_rate_limit: str = DEFAULT_UPLOAD_RATE_LIMIT
    poll_rate_limit: str = DEFAULT_POLL_RATE_LIMIT
    proxy_hops: int = DEFAULT_PROXY_HOPS
    device: str = DEFAULT_DEVICE
    model_bundle: str = DEFAULT_MODEL_BUNDLE
    mesh_processes: int = DEFAULT_MESH_PROCESSES
    key_prefix: str = DEFAULT_KEY_PREFIX
    dramatiq_namespace: str = DEFAULT_DRAMATIQ_NAMESPACE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``MRIMESH_<FIELD>`` variables; ``overrides`` win over both."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = environ.get(_ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _coerce(field.type, raw, field.name)
        values.update(overrides)
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def jobs_dir(self) -> Path:
        """Folder holding one sub-folder per job."""
        return self.data_dir / "jobs"


def _coerce(type_name: object, raw: str, name: str) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as e:
        raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from e
    if kind == "Path":
        return Path(raw)
    return raw
