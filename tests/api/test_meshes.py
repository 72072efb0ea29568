"""POST /jobs/<id>/meshes (re-make with new print options) and print options on POST /upload:
what is accepted, what is refused and how, and that the finished job's files stay."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from pathlib import Path

import pytest
import redis

from api.app import create_app
from mrimesh.config import Settings
from mrimesh.contract import REMAKE_ACTOR_NAME
from mrimesh.keys import Keys
from mrimesh.lifecycle import Lifecycle
from mrimesh.outcome import JobOutcome
from mrimesh.paths import new_job_id
from mrimesh.print_options import OPTIONS_OBJECT
from mrimesh.storage import RESULT_ZIP, open_storage

LABELS = "files/labels.nii.gz"


def _lifecycle(settings: Settings) -> Lifecycle:
    return Lifecycle(redis.Redis.from_url(settings.redis_url), settings)


def _job(settings: Settings, tmp_path: Path, *, end: str = "complete", labels: bool = True) -> str:
    """A job that ended as ``end`` (complete, fail, cancel, expire, queued, processing)."""
    lifecycle = _lifecycle(settings)
    job_id = new_job_id()
    lifecycle.create(job_id, input_kind="nifti", input_bytes=1, input_voxels=123)
    storage = open_storage(settings)
    for name in ([LABELS] if labels else []) + [RESULT_ZIP]:
        source = tmp_path / f"src-{uuid.uuid4().hex}"
        source.write_bytes(b"stored " + name.encode())
        storage.put(job_id, name, source)
    if end == "queued":
        return job_id
    lifecycle.start(job_id, worker_id="test:1")
    if end == "complete":
        lifecycle.complete(job_id, JobOutcome(voxels=123), step_seconds={})
    elif end == "fail":
        lifecycle.fail(job_id, code="processing_error", error="it broke")
    elif end == "cancel":
        lifecycle.cancel(job_id)
    elif end == "expire":
        lifecycle.complete(job_id, JobOutcome(voxels=123), step_seconds={})
        lifecycle.expire(job_id)
    return job_id


def _queued_messages(client: redis.Redis, settings: Settings) -> list[dict]:
    """The Dramatiq messages waiting in our queue, decoded."""
    namespace = settings.dramatiq_namespace
    raw = client.hgetall(f"{namespace}:mrimesh-jobs.msgs")
    return [json.loads(v) for v in raw.values()]


def test_a_remake_is_a_new_queued_job_that_names_its_source(
    client, settings, tmp_path, redis_client
) -> None:
    source = _job(settings, tmp_path)
    before = sorted(open_storage(settings).names(source))
    response = client.post(
        f"/jobs/{source}/meshes",
        json={"structures": ["left_hemisphere", "right_hemisphere"], "hollow_mm": 2},
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    new = body["job_id"]
    assert new != source
    assert body["status"] == "queued" and body["kind"] == "remake"
    assert body["source_job_id"] == source
    assert response.headers["Location"] == body["status_url"] == f"/status/{new}"
    # the worker finds the options (and the job to start from) in the new job's store
    stored = tmp_path / "options.json"
    open_storage(settings).fetch(new, OPTIONS_OBJECT, stored)
    document = json.loads(stored.read_text())
    assert document["source_job_id"] == source
    assert document["print_options"]["structures"] == ["left_hemisphere", "right_hemisphere"]
    assert document["print_options"]["hollow_mm"] == 2.0
    messages = _queued_messages(redis_client, settings)
    assert [(m["actor_name"], m["args"]) for m in messages] == [(REMAKE_ACTOR_NAME, [new])]
    # the finished job is untouched
    assert sorted(open_storage(settings).names(source)) == before
    assert client.get(f"/status/{source}").get_json()["status"] == "completed"
    assert client.get(f"/status/{new}").get_json()["kind"] == "remake"


def test_an_empty_body_takes_the_default_options(client, settings, tmp_path) -> None:
    source = _job(settings, tmp_path)
    assert client.post(f"/jobs/{source}/meshes").status_code == 202


@pytest.mark.parametrize(
    ("body", "option", "words"),
    [
        ({"colour": "red"}, "colour", "Unknown option"),
        ({"hollow_mm": "thick"}, "hollow_mm", "number"),
        ({"hollow_mm": 50}, "hollow_mm", "0.8 to 20 mm"),
        ({"scale_percent": 1}, "scale_percent", "10%"),
        ({"scale_percent": 50, "longest_side_mm": 100}, "scale_percent", "not both"),
        ({"structures": ["cerebellum"]}, "structures", "left_hemisphere"),
        ({"formats": ["fbx"]}, "formats", "3mf"),
        ({"target_triangles": 5}, "target_triangles", "1,000"),
        ({"smoothing": 1.5}, "smoothing", "whole number"),
    ],
)
def test_bad_options_are_refused_naming_the_option_and_its_range(
    client, settings, tmp_path, redis_client, body, option, words
) -> None:
    source = _job(settings, tmp_path)
    response = client.post(f"/jobs/{source}/meshes", json=body)
    assert response.status_code == 422
    error = response.get_json()
    assert error["code"] == "invalid_option"
    assert option in error["error"] and words in error["error"]
    assert _queued_messages(redis_client, settings) == []


def test_a_body_that_is_not_a_json_object(client, settings, tmp_path) -> None:
    source = _job(settings, tmp_path)
    response = client.post(
        f"/jobs/{source}/meshes", data="hollow=2", content_type="application/json"
    )
    assert response.status_code == 400 and response.get_json()["code"] == "bad_request"
    listed = client.post(f"/jobs/{source}/meshes", json=["brain"])
    assert listed.status_code == 422 and listed.get_json()["code"] == "invalid_option"


@pytest.mark.parametrize(
    ("end", "labels", "status", "code"),
    [
        ("fail", True, 409, "not_remakeable"),
        ("cancel", True, 409, "not_remakeable"),
        ("expire", True, 410, "expired"),
        ("queued", True, 409, "not_ready"),
        ("processing", True, 409, "not_ready"),
        ("complete", False, 409, "not_remakeable"),  # finished before label maps were kept
    ],
)
def test_only_a_completed_job_with_its_label_map_can_be_remade(
    client, settings, tmp_path, redis_client, end, labels, status, code
) -> None:
    source = _job(settings, tmp_path, end=end, labels=labels)
    response = client.post(f"/jobs/{source}/meshes", json={})
    assert response.status_code == status
    assert response.get_json()["code"] == code
    assert len(response.get_json()["error"]) > 20
    assert all(
        m["actor_name"] != REMAKE_ACTOR_NAME for m in _queued_messages(redis_client, settings)
    )


def test_unknown_and_malformed_ids_are_404(client) -> None:
    assert client.post(f"/jobs/{uuid.uuid4()}/meshes", json={}).status_code == 404
    assert client.post("/jobs/not-a-job/meshes", json={}).status_code == 404


def test_remakes_faster_than_the_rate_limit_are_refused(settings, tmp_path) -> None:
    limited = dataclasses.replace(settings, remake_rate_limit="2 per minute")
    client = create_app({"SETTINGS": limited, "TESTING": True}).test_client()
    source = _job(limited, tmp_path)
    answers = [client.post(f"/jobs/{source}/meshes", json={}).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    refused = client.post(f"/jobs/{source}/meshes", json={})
    assert refused.get_json()["code"] == "rate_limited"


def test_print_options_lists_every_option(client) -> None:
    body = client.get("/print-options").get_json()
    assert set(body) == {
        "structures",
        "formats",
        "hollow_mm",
        "scale_percent",
        "longest_side_mm",
        "smoothing",
        "target_triangles",
    }
    assert body["structures"]["default"] == ["brain", "white_matter", "ventricles"]


def test_upload_form_fields_are_print_options(client, settings, brain_2mm, tmp_path) -> None:
    response = client.post(
        "/upload",
        data={
            "file": (io.BytesIO(brain_2mm.read_bytes()), "t1.nii.gz"),
            "structures": "brain,left_hemisphere,right_hemisphere",
            "formats": "stl,3mf",
            "hollow_mm": "2",
            "longest_side_mm": "120",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    stored = tmp_path / "options.json"
    open_storage(settings).fetch(response.get_json()["job_id"], OPTIONS_OBJECT, stored)
    options = json.loads(stored.read_text())["print_options"]
    assert options["structures"] == ["brain", "left_hemisphere", "right_hemisphere"]
    assert options["formats"] == ["stl", "3mf"]
    assert (options["hollow_mm"], options["longest_side_mm"]) == (2.0, 120.0)


def test_a_bad_upload_form_field_is_refused_before_anything_is_stored(
    client, settings, brain_2mm, redis_client
) -> None:
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(brain_2mm.read_bytes()), "t1.nii.gz"), "hollow_mm": "99"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "invalid_option"
    assert "hollow_mm" in response.get_json()["error"]
    keys = Keys(settings.key_prefix)
    assert redis_client.zcard(keys.waiting) == 0
    assert not settings.jobs_dir.exists() or list(settings.jobs_dir.iterdir()) == []
