"""Fixtures for the imaging pipeline: real brains at test-friendly sizes, and one shared run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from gpu_worker.progress import reporting_to
from mrimesh.config import Settings
from tests.support.data import nilearn_mni_t1

#: Text that stands for a patient's name and birth date in header fields.
PHI = "Jane Doe 1970-01-01"


@pytest.fixture(scope="session")
def cpu_settings() -> Settings:
    """Default settings on the CPU, ignoring the environment."""
    return Settings.from_env({}, device="cpu")


@pytest.fixture(scope="session")
def fast_options() -> PipelineOptions:
    """Options that keep a whole run to a few seconds: 2 mm working voxels, small meshes; every
    format, so each writer is exercised."""
    return PipelineOptions(
        work_spacing_mm=2.0, target_triangles=20_000, formats=("stl", "obj", "ply", "glb", "3mf")
    )


def nilearn_map(name: str) -> Path:
    """One of nilearn's bundled MNI152 maps: "t1", "gm" or "wm"."""
    return nilearn_mni_t1().with_name(f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")


def with_phi(source: Path, out: Path) -> Path:
    """Copy of a NIfTI whose free-text header fields and an extension carry a name and a date."""
    image = nib.load(str(source))
    header = image.header.copy()
    header["descrip"] = PHI.encode()
    header["aux_file"] = b"Jane Doe"
    header["db_name"] = b"JaneDoe70"
    header["intent_name"] = b"DOB19700101"
    header.extensions.append(nib.nifti1.Nifti1Extension("comment", PHI.encode()))
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), image.affine, header), str(out))
    return out


@dataclass
class Run:
    """One pipeline run kept for several tests to look at."""

    input: Path
    out: Path
    report: dict
    calls: list[tuple[str, float]]


@pytest.fixture(scope="session")
def brain_run(
    brain_2mm: Path,
    tmp_path_factory: pytest.TempPathFactory,
    cpu_settings: Settings,
    fast_options: PipelineOptions,
) -> Run:
    """The 2 mm MNI152 brain (with a name in its header) through the whole pipeline, once."""
    root = tmp_path_factory.mktemp("brain_run")
    source = with_phi(brain_2mm, root / "named.nii.gz")
    calls: list[tuple[str, float]] = []
    with reporting_to(lambda step, fraction: calls.append((step, fraction))):
        report = run_pipeline(source, root / "out", fast_options, cpu_settings)
    return Run(input=source, out=root / "out", report=report, calls=calls)
