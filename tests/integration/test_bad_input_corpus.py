"""Every bad upload gets a clear refusal or a failed job with a reason; nothing crashes."""

from __future__ import annotations

import pytest

from tests.support.bad_inputs import corpus
from tests.support.service import ServiceStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_corpus_has_at_least_thirty_cases(brain_2mm) -> None:
    assert len(corpus(brain_2mm)) >= 30


def test_every_bad_input_is_refused_or_fails_with_a_reason(
    live_service: ServiceStack, brain_2mm, tmp_path
) -> None:
    # Given the whole corpus uploaded to the running service
    outcomes = {}
    accepted = {}
    for bad in corpus(brain_2mm):
        path = tmp_path / bad.case.replace(" ", "_").replace("/", "_")
        path.mkdir()
        file = path / "upload.bin"
        file.write_bytes(bad.make(tmp_path))
        response = live_service.upload(file, name=bad.filename)
        body = response.json()
        if response.status_code == 202:
            accepted[bad.case] = body["job_id"]
        else:
            assert 400 <= response.status_code < 500, (bad.case, response.status_code, body)
            assert body["code"] and len(body["error"]) > 15, (bad.case, body)
            outcomes[bad.case] = ("refused", response.status_code, body["code"])

    # When the worker has gone through the ones the gate let in
    for case, job_id in accepted.items():
        status = live_service.wait_for_status(job_id, {"completed", "failed"}, timeout=180)
        outcomes[case] = (status["status"], status["error_code"], status["error"])

    # Then each had the expected fate, with a readable reason
    for bad in corpus(brain_2mm):
        fate = outcomes[bad.case]
        if bad.expect == "reject":
            assert fate[0] == "refused", (bad.case, fate)
        elif bad.expect == "fail":
            assert fate[0] == "failed", (bad.case, fate)
            assert fate[2] and len(fate[2]) > 15 and "Traceback" not in fate[2], (bad.case, fate)
        else:
            assert fate[0] in {"refused", "failed"}, (bad.case, fate)
    # and the service still serves: a valid scan right after completes
    good = live_service.upload(brain_2mm).json()["job_id"]
    assert live_service.wait_for_status(good, {"completed", "failed"})["status"] == "completed"
    assert live_service.get("healthz").status_code == 200
