"""Step 3: the default model (deepbet + tissue classes), loaded once per process, checksummed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from gpu_worker.pipeline.bundle import (
    DEFAULT_BUNDLE_DIR,
    BundleError,
    locate_weight,
    read_bundle,
    sha256_of,
)
from gpu_worker.pipeline.load import load_scan
from gpu_worker.pipeline.models import get_segmenter, preload, resolve_device, segmenter_for
from gpu_worker.pipeline.preprocess import prepare
from gpu_worker.pipeline.segment import segment
from gpu_worker.pipeline.types import Segmentation
from gpu_worker.progress import reporting_to, step
from mrimesh.config import Settings
from mrimesh.contract import Step
from tests.pipeline.conftest import nilearn_map

REPO = Path(__file__).resolve().parents[2]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def reference_at_2mm(name: str, threshold: float) -> np.ndarray:
    """A nilearn MNI152 map sampled like ``downsampled_brain`` (every 2nd voxel), thresholded."""
    data = np.asarray(nib.load(str(nilearn_map(name))).dataobj, dtype=np.float32)[::2, ::2, ::2]
    return data / data.max() > threshold


@pytest.fixture(scope="module")
def labelled(brain_2mm: Path, cpu_settings: Settings) -> Segmentation:
    prepared = prepare(load_scan(brain_2mm), "cpu", work_spacing_mm=2.0)
    return segment(prepared, segmenter_for(cpu_settings))


def test_brain_mask_matches_the_reference_mask(labelled: Segmentation) -> None:
    # nilearn's MNI152 brain mask is the template thresholded at 0.2
    assert dice(labelled.labels > 0, reference_at_2mm("t1", 0.2)) > 0.95


def test_grey_and_white_matter_match_the_reference_maps(labelled: Segmentation) -> None:
    assert dice(labelled.labels == 2, reference_at_2mm("gm", 0.5)) > 0.8
    assert dice(labelled.labels == 3, reference_at_2mm("wm", 0.5)) > 0.8


def test_labels_are_named_from_the_bundle_lookup_table(labelled: Segmentation) -> None:
    assert labelled.names == {
        0: "background",
        1: "csf",
        2: "grey_matter",
        3: "white_matter",
        4: "ventricles",
    }
    assert [s.name for s in labelled.structures] == ["brain", "white_matter", "ventricles"]


def test_segmenting_reports_progress(brain_2mm: Path, cpu_settings: Settings) -> None:
    prepared = prepare(load_scan(brain_2mm), "cpu", work_spacing_mm=2.0)
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda step_id, f: calls.append((step_id, f))), step(Step.SEGMENTING):
        segment(prepared, segmenter_for(cpu_settings))
    assert {step for step, _ in calls} == {Step.SEGMENTING.value}
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and 3 <= len(fractions) <= 30


def test_model_is_loaded_once_per_process(cpu_settings: Settings) -> None:
    preload(cpu_settings, warmup=False)
    first = segmenter_for(cpu_settings)
    assert segmenter_for(cpu_settings) is first
    assert get_segmenter(str(DEFAULT_BUNDLE_DIR), "cpu") is first


def test_auto_device_is_cuda_only_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            resolve_device("cuda")


def test_weights_are_located_in_the_installed_wheel_and_match_their_checksums() -> None:
    bundle = read_bundle(DEFAULT_BUNDLE_DIR)
    assert not list(REPO.joinpath("models").rglob("*.pt"))
    for spec in bundle.weight_specs:
        path = locate_weight(bundle, spec)
        assert "site-packages" in str(path)
        assert sha256_of(path) == spec["sha256"]


def test_a_checksum_mismatch_refuses_to_load(tmp_path: Path) -> None:
    bundle = tmp_path / "deepbet"
    shutil.copytree(DEFAULT_BUNDLE_DIR, bundle)
    meta_path = bundle / "configs" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["mrimesh"]["weights"][1]["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="checksum"):
        get_segmenter(str(bundle), "cpu")


def test_importing_the_pipeline_does_not_touch_cuda_and_the_contract_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "import gpu_worker.progress, mrimesh.config, mrimesh.contract\n"
        "assert 'torch' not in sys.modules, 'progress/mrimesh imported torch'\n"
        "import gpu_worker.pipeline, torch\n"
        "assert not torch.cuda.is_initialized()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
