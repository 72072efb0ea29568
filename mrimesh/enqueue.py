"""Enqueue a job by queue and actor name, so the API never imports the worker."""

from __future__ import annotations

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from mrimesh.contract import ACTOR_NAME, QUEUE_NAME


def enqueue_job(broker: RedisBroker, job_id: str, actor_name: str = ACTOR_NAME) -> None:
    """Send the message that asks a worker to process ``job_id`` (with ``actor_name``: a scan's
    job, or a re-make's)."""
    broker.enqueue(
        Message(queue_name=QUEUE_NAME, actor_name=actor_name, args=(job_id,), kwargs={}, options={})
    )
