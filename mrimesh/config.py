"""All configuration, read in one place from ``MRIMESH_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
#: Re-makes (POST /jobs/<id>/meshes) allowed per client address and job: each one occupies a
#: worker for seconds, so a person trying options finds this generous and a script does not.
DEFAULT_REMAKE_RATE_LIMIT = "6 per minute;60 per hour"
#: Reverse proxies in front of the API whose X-Forwarded-For is trusted (1 behind nginx).
DEFAULT_PROXY_HOPS = 0
#: Torch device for inference: "auto" (cuda if available, else cpu), "cuda", "cuda:N" or "cpu".
DEFAULT_DEVICE = "auto"
#: Optional path to a MONAI bundle directory used instead of the built-in segmenter.
DEFAULT_MODEL_BUNDLE = ""
#: Helper processes each worker meshes structures in (0: one per core, at most 4; 1: none,
#: meshing runs in the worker process itself).
DEFAULT_MESH_PROCESSES = 0
#: Where a job's files are kept: "local" (``<MRIMESH_DATA_DIR>/jobs``, one host or NFS) or "s3"
#: (an S3-compatible bucket shared by hosts that share nothing else).
DEFAULT_STORAGE = "local"
#: Address of the S3-compatible store as the API and workers reach it (e.g. http://minio:9000).
DEFAULT_S3_ENDPOINT = ""
#: Address browsers reach the store at, for download links (empty: the same as the endpoint).
DEFAULT_S3_PUBLIC_ENDPOINT = ""
#: Bucket holding every job's objects under ``jobs/<job_id>/``.
DEFAULT_S3_BUCKET = ""
#: How long a download link stays valid, in seconds.
DEFAULT_S3_LINK_SECONDS = 300
#: 1: stream downloads through the API instead of redirecting browsers to the store.
DEFAULT_S3_PROXY_DOWNLOADS = 0
#: Size of one part of a multipart upload, in bytes; files larger than one part go multipart.
DEFAULT_S3_PART_BYTES = 16 * 1024**2
#: Parts of one file sent at once (memory per transfer is about this times the part size).
DEFAULT_S3_CONCURRENCY = 4
#: Port of the Redis that ``make run`` (``scripts/serve.py``) starts and owns when
#: ``MRIMESH_REDIS_URL`` is not set.
DEFAULT_SERVE_REDIS_PORT = 6390
#: Key prefix for every Redis key this project writes.
DEFAULT_KEY_PREFIX = "mrimesh"
#: Namespace of Dramatiq's own Redis keys.
DEFAULT_DRAMATIQ_NAMESPACE = "dramatiq"

_ENV_PREFIX = "MRIMESH_"
#: Settings read from the standard variable of the same name, without the ``MRIMESH_`` prefix.
_STANDARD_NAMES = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_default_region"})


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
    remake_rate_limit: str = DEFAULT_REMAKE_RATE_LIMIT
    proxy_hops: int = DEFAULT_PROXY_HOPS
    device: str = DEFAULT_DEVICE
    model_bundle: str = DEFAULT_MODEL_BUNDLE
    mesh_processes: int = DEFAULT_MESH_PROCESSES
    serve_redis_port: int = DEFAULT_SERVE_REDIS_PORT
    key_prefix: str = DEFAULT_KEY_PREFIX
    dramatiq_namespace: str = DEFAULT_DRAMATIQ_NAMESPACE
    storage: str = DEFAULT_STORAGE
    s3_endpoint: str = DEFAULT_S3_ENDPOINT
    s3_public_endpoint: str = DEFAULT_S3_PUBLIC_ENDPOINT
    s3_bucket: str = DEFAULT_S3_BUCKET
    s3_link_seconds: int = DEFAULT_S3_LINK_SECONDS
    s3_proxy_downloads: int = DEFAULT_S3_PROXY_DOWNLOADS
    s3_part_bytes: int = DEFAULT_S3_PART_BYTES
    s3_concurrency: int = DEFAULT_S3_CONCURRENCY
    # The store's credentials and region keep the names every S3 tool reads (no MRIMESH_ prefix);
    # empty means boto3's own lookup (instance role, ~/.aws). Never shown by repr.
    aws_access_key_id: str = field(default="", repr=False)
    aws_secret_access_key: str = field(default="", repr=False)
    aws_default_region: str = "us-east-1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``MRIMESH_<FIELD>`` variables; ``overrides`` win over both."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for item in fields(cls):
            raw = environ.get(env_name(item.name))
            if raw is not None and raw != "":
                values[item.name] = _coerce(item.type, raw, item.name)
        values.update(overrides)
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def jobs_dir(self) -> Path:
        """Folder holding one sub-folder per job."""
        return self.data_dir / "jobs"

    @property
    def scratch_dir(self) -> Path:
        """A worker's own folder for the job it runs (``<scratch_dir>/<job_id>/``), never shared."""
        return self.data_dir / "scratch"


def env_name(setting: str) -> str:
    """The environment variable a setting is read from."""
    return setting.upper() if setting in _STANDARD_NAMES else _ENV_PREFIX + setting.upper()


def _coerce(type_name: object, raw: str, name: str) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as e:
        raise ValueError(f"{env_name(name)} must be a number, got {raw!r}") from e
    if kind == "Path":
        return Path(raw)
    return raw
