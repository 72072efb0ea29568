"""Bring Redis data written by older versions up to today's key schema, at every start-up.

The API (:func:`api.app.create_app`) and each worker process (before it boots) call
:func:`migrate`. It is idempotent and safe with several processes at once: every change is one
WATCH/MULTI transaction, so of two processes migrating the same key one applies it and the other
finds nothing left to do. It runs at every start (a few reads when there is nothing to do), so data
an older process wrote during a rolling upgrade is folded in at the next start.

What it migrates:

1. Steps got stable ids (``segmenting``) instead of labels (``Segmenting``): the step histograms
   ``{p}:hist:step_seconds:<label>`` are added into ``{p}:hist:step_seconds:<id>`` and deleted;
   the timing records in ``{p}:timings:jobs`` are rewritten with their steps keyed by id. Job
   records of jobs running during the upgrade are read tolerantly instead
   (:meth:`mrimesh.jobs.JobRecord.from_hash`).
"""

from __future__ import annotations

import json
import logging

import redis

from mrimesh.config import Settings
from mrimesh.contract import LEGACY_STEP_LABELS
from mrimesh.keys import Keys
from mrimesh.redis_client import as_text

logger = logging.getLogger(__name__)


def migrate(client: redis.Redis, settings: Settings) -> dict[str, int]:
    """Run every migration; returns how many keys or records each changed."""
    keys = Keys(settings.key_prefix)
    done = {
        "step_histograms": sum(
            _fold_histogram(
                client,
                keys.histogram(f"step_seconds:{label}"),
                keys.histogram(f"step_seconds:{step}"),
            )
            for label, step in LEGACY_STEP_LABELS.items()
        ),
        "timing_records": _rekey_timings(client, keys.timings_jobs),
    }
    if any(done.values()):
        logger.info("migrated Redis data to step ids: %s", done)
    return done


def migrate_quietly(client: redis.Redis, settings: Settings) -> None:
    """:func:`migrate`, but a Redis outage only logs (the next start tries again)."""
    try:
        migrate(client, settings)
    except redis.exceptions.RedisError as e:
        logger.warning("could not migrate Redis data now (%s); the next start tries again", e)


def _fold_histogram(client: redis.Redis, old: str, new: str) -> int:
    """Add histogram ``old`` into ``new`` and delete it; 1 when it existed."""

    def fold(pipe: redis.client.Pipeline) -> int:
        stored = pipe.hgetall(old)
        if not stored:
            return 0
        pipe.multi()
        for field, value in stored.items():
            name, text = as_text(field), as_text(value)
            if name == "sum":
                pipe.hincrbyfloat(new, name, float(text))
            else:
                pipe.hincrby(new, name, int(float(text)))
        pipe.delete(old)
        return 1

    return client.transaction(fold, old, value_from_callable=True)


def _rekey_timings(client: redis.Redis, key: str) -> int:
    """Rewrite the timing records whose steps are keyed by label; returns how many."""

    def rekey(pipe: redis.client.Pipeline) -> int:
        entries = [as_text(e) for e in pipe.lrange(key, 0, -1)]
        rewritten = [_rekeyed(e) for e in entries]
        changed = sum(1 for a, b in zip(entries, rewritten, strict=True) if a != b)
        if not changed:
            return 0
        pipe.multi()
        pipe.delete(key)
        pipe.rpush(key, *rewritten)
        return changed

    return client.transaction(rekey, key, value_from_callable=True)


def _rekeyed(entry: str) -> str:
    """One timing record with its steps keyed by id (unchanged when it already is, or is not
    readable at all)."""
    try:
        data = json.loads(entry)
        steps = data.get("steps")
    except (ValueError, AttributeError):
        return entry
    if not isinstance(steps, dict) or not any(k in LEGACY_STEP_LABELS for k in steps):
        return entry
    data["steps"] = {LEGACY_STEP_LABELS.get(k, k): v for k, v in steps.items()}
    return json.dumps(data)
