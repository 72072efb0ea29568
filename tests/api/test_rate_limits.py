"""Rate limits: generous for a 2 s poll, firm for floods, always JSON."""

from __future__ import annotations

import io

from api.app import create_app
from mrimesh.config import Settings


def _client(settings: Settings, **limits: str):
    limited = Settings.from_env({}, **{**settings.__dict__, **limits})
    return create_app({"SETTINGS": limited}).test_client()


def _upload(client, brain_2mm):
    return client.post(
        "/upload",
        data={"file": (io.BytesIO(brain_2mm.read_bytes()), "scan.nii.gz")},
        content_type="multipart/form-data",
    )


def test_upload_flood_gets_429_json(settings, brain_2mm) -> None:
    client = _client(settings, upload_rate_limit="2 per hour")
    assert _upload(client, brain_2mm).status_code == 202
    assert _upload(client, brain_2mm).status_code == 202
    third = _upload(client, brain_2mm)
    assert third.status_code == 429
    assert third.get_json()["code"] == "rate_limited"
    assert "Retry-After" in third.headers or "X-RateLimit-Reset" in third.headers


def test_polling_every_two_seconds_for_an_hour_fits_the_default_limit(settings, brain_2mm) -> None:
    client = _client(settings)
    job_id = _upload(client, brain_2mm).get_json()["job_id"]
    # A 2 s poll is 30 requests a minute; the default allows that with room to spare.
    for _ in range(60):
        assert client.get(f"/status/{job_id}").status_code == 200


def test_polling_is_limited_per_job_not_per_address(settings, brain_2mm) -> None:
    client = _client(settings, poll_rate_limit="5 per minute")
    first = _upload(client, brain_2mm).get_json()["job_id"]
    second = _upload(client, brain_2mm).get_json()["job_id"]
    codes = [client.get(f"/status/{first}").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert client.get(f"/status/{second}").status_code == 200
