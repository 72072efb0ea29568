"""Defence in depth: every case of the shared bad-upload corpus that the API's gate might let
through is refused by the pipeline itself with an InputError a person can read."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from mrimesh.config import Settings
from tests.support.bad_inputs import corpus

#: Corpus cases whose bytes are in fact a valid brain scan; only their file name is wrong, which
#: is the API's business: the pipeline trusts content, not names.
VALID_CONTENT = {"gzip named .zip", "no extension"}


def test_every_bad_input_raises_input_error(
    brain_2mm: Path, tmp_path: Path, cpu_settings: Settings
) -> None:
    outcomes = {}
    for bad in corpus(brain_2mm):
        if bad.case in VALID_CONTENT:
            continue
        folder = tmp_path / str(len(outcomes))
        folder.mkdir()
        upload = folder / "upload.bin"
        upload.write_bytes(bad.make(folder))
        with pytest.raises(InputError) as caught:
            run_pipeline(upload, folder / "out", PipelineOptions(work_spacing_mm=2.0), cpu_settings)
        outcomes[bad.case] = caught.value
    for case, error in outcomes.items():
        assert error.code and len(error.message) > 15 and "Traceback" not in error.message, case
    assert len(outcomes) >= 30
