"""The local storage back end: atomic puts, names we build ourselves, whole-job deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrimesh.paths import new_job_id
from mrimesh.storage import RESULT_ZIP, LocalStorage, ObjectMissing, input_name


def test_put_fetch_names_and_delete_job(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "jobs")
    job_id = new_job_id()
    source = tmp_path / "scan.nii.gz"
    source.write_bytes(b"scan bytes")

    storage.put(job_id, input_name(".nii.gz"), source)
    storage.put(job_id, RESULT_ZIP, source)

    assert storage.names(job_id) == ["input/upload.nii.gz", "result.zip"]
    assert storage.exists(job_id, RESULT_ZIP)
    copy = tmp_path / "scratch" / "copy.nii.gz"
    storage.fetch(job_id, input_name(".nii.gz"), copy)
    assert copy.read_bytes() == b"scan bytes"
    assert (
        storage.link(job_id, RESULT_ZIP, filename="r.zip", content_type="application/zip") is None
    )

    storage.delete_job(job_id)
    storage.delete_job(job_id)  # idempotent
    assert storage.names(job_id) == []
    with pytest.raises(ObjectMissing):
        storage.fetch(job_id, RESULT_ZIP, copy)


@pytest.mark.parametrize("name", ["../escape", "/abs", "input/../../x", "Upload.NII", ""])
def test_names_we_did_not_build_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).path(new_job_id(), name)


def test_a_job_id_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).delete_job("../../etc")
