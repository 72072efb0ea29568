"""Steps have stable ids and labels people read; old Redis data keyed by label is migrated."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from api.app import create_app
from gpu_worker.middleware import JobProgress
from mrimesh import contract
from mrimesh.contract import LEGACY_STEP_LABELS, STEP_IDS, STEP_LABELS, Step, step_label
from mrimesh.keys import Keys
from mrimesh.lifecycle import Lifecycle
from mrimesh.migrations import migrate
from mrimesh.outcome import JobOutcome
from mrimesh.stats import StatsReader


def _completed_job(lifecycle: Lifecycle, seconds: float) -> str:
    job_id = str(uuid.uuid4())
    lifecycle.create(job_id, input_kind="nifti", input_bytes=1, input_voxels=1000)
    started = time.time()
    lifecycle.start(job_id, worker_id="w1", at=started)
    steps = dict.fromkeys(STEP_IDS, seconds)
    # Finished as long after its start as its steps took: a job done within half a millisecond
    # of its start has a total of 0.000 s, which the timing model rightly leaves out.
    lifecycle.complete(
        job_id, JobOutcome(voxels=1000), step_seconds=steps, at=started + sum(steps.values())
    )
    return job_id


def test_every_step_has_an_id_a_label_and_a_prior_weight() -> None:
    assert STEP_IDS == (
        "loading",
        "preparing",
        "segmenting",
        "cleaning_up",
        "loading_labels",
        "meshing",
        "exporting",
        "packaging",
    )
    assert set(STEP_LABELS) == set(STEP_IDS) == set(contract.PRIOR_STEP_WEIGHTS)
    assert Step.MESHING.label == "Generating meshes"  # the user's spec shows these words
    # a label stored before steps had ids still reads as its step
    # (the re-make's loading_labels came after steps had ids: it has no legacy label)
    assert set(LEGACY_STEP_LABELS.values()) == set(STEP_IDS) - {"loading_labels"}
    assert step_label("Generating meshes") == "Generating meshes"
    assert contract.step_id("Cleaning up") == "cleaning_up"


def test_rewording_a_label_breaks_neither_a_metric_series_nor_the_eta_history(
    settings, redis_client, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle = Lifecycle(redis_client, settings)
    # Given a job completed while segmenting was called "Segmenting"
    _completed_job(lifecycle, 1.0)

    # When the label is reworded and another job completes and a third runs
    monkeypatch.setitem(STEP_LABELS, "segmenting", "Finding the brain")
    _completed_job(lifecycle, 3.0)
    running = str(uuid.uuid4())
    lifecycle.create(running, input_kind="nifti", input_bytes=1, input_voxels=1000)
    lifecycle.start(running, worker_id="w1")
    lifecycle.progress(
        running,
        step=Step.SEGMENTING,
        fraction=0.5,
        percent=40,
        step_started_at=0.0,
        completed_steps={},
    )

    # Then both jobs are one metric series, labelled by the id
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'mrimesh_step_duration_seconds_count{step="segmenting"} 2.0' in metrics
    assert 'mrimesh_step_duration_seconds_sum{step="segmenting"} 4.0' in metrics
    assert "Finding the brain" not in metrics
    # and both feed the ETA history of the step (median of 1 s and 3 s)
    model = StatsReader(redis_client, settings).timing_model()
    assert model.step_estimates(1000)["segmenting"] == pytest.approx(2.0)
    assert client.get("/stats").get_json()["average_step_seconds"]["segmenting"] == 2.0
    # and /status shows the new words beside the unchanged id
    status = client.get(f"/status/{running}").get_json()
    assert status["current_step"] == "Finding the brain"
    assert status["current_step_id"] == "segmenting"


def _seed_old_data(redis_client, keys: Keys) -> None:
    """What a service from before step ids left in Redis."""
    redis_client.hset(
        keys.histogram("step_seconds:Segmenting"),
        mapping={"le:5": 2, "le:10": 3, "le:+Inf": 3, "sum": 21.5, "count": 3},
    )
    redis_client.hset(
        keys.histogram("step_seconds:Generating meshes"),
        mapping={"le:+Inf": 1, "sum": 9.0, "count": 1},
    )
    # a new worker already wrote one observation under the id
    redis_client.hset(
        keys.histogram("step_seconds:segmenting"),
        mapping={"le:5": 1, "le:10": 1, "le:+Inf": 1, "sum": 4.0, "count": 1},
    )
    old = {"total": 30.0, "voxels": 1000, "steps": {"Segmenting": 20.0, "Generating meshes": 9.0}}
    new = {"total": 10.0, "voxels": 1000, "steps": {"segmenting": 4.0}, "start_gap": 0.1}
    redis_client.rpush(keys.timings_jobs, json.dumps(new), json.dumps(old), "not json")


def _assert_migrated(redis_client, keys: Keys) -> None:
    assert not redis_client.exists(keys.histogram("step_seconds:Segmenting"))
    assert not redis_client.exists(keys.histogram("step_seconds:Generating meshes"))
    seg = {
        k.decode(): float(v)
        for k, v in redis_client.hgetall(keys.histogram("step_seconds:segmenting")).items()
    }
    assert seg == {"le:5": 3, "le:10": 4, "le:+Inf": 4, "sum": 25.5, "count": 4}
    meshing = redis_client.hgetall(keys.histogram("step_seconds:meshing"))
    assert float(meshing[b"count"]) == 1
    entries = [e.decode() for e in redis_client.lrange(keys.timings_jobs, 0, -1)]
    assert json.loads(entries[0])["steps"] == {"segmenting": 4.0}  # order kept, newest first
    assert json.loads(entries[1]) == {
        "total": 30.0,
        "voxels": 1000,
        "steps": {"segmenting": 20.0, "meshing": 9.0},
    }
    assert entries[2] == "not json"  # what it cannot read, it leaves alone


def test_migration_moves_old_label_keys_to_ids_once(settings, redis_client) -> None:
    keys = Keys(settings.key_prefix)
    _seed_old_data(redis_client, keys)

    first = migrate(redis_client, settings)
    again = migrate(redis_client, settings)

    assert first == {"step_histograms": 2, "timing_records": 1}
    assert again == {"step_histograms": 0, "timing_records": 0}
    _assert_migrated(redis_client, keys)


def test_migration_is_safe_when_several_processes_start_at_once(settings, redis_client) -> None:
    keys = Keys(settings.key_prefix)
    _seed_old_data(redis_client, keys)
    results: list[dict[str, int]] = []
    barrier = threading.Barrier(6)

    def boot() -> None:
        barrier.wait()
        results.append(migrate(redis_client.__class__.from_url(settings.redis_url), settings))

    threads = [threading.Thread(target=boot) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(r["step_histograms"] for r in results) == 2  # each key folded exactly once
    assert sum(r["timing_records"] for r in results) == 1
    _assert_migrated(redis_client, keys)


def test_the_api_and_the_worker_migrate_when_they_start(settings, redis_client) -> None:
    keys = Keys(settings.key_prefix)
    _seed_old_data(redis_client, keys)
    create_app({"SETTINGS": settings, "TESTING": True})
    _assert_migrated(redis_client, keys)

    redis_client.delete(keys.histogram("step_seconds:segmenting"), keys.timings_jobs)
    _seed_old_data(redis_client, keys)
    JobProgress(settings, redis_client).before_worker_boot(None, None)
    assert not redis_client.exists(keys.histogram("step_seconds:Segmenting"))
    history = StatsReader(redis_client, settings).timing_history()
    assert all(set(h.steps) <= set(STEP_IDS) for h in history)
