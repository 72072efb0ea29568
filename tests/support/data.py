"""Real brain MRIs for tests: nilearn's bundled MNI152 template, and ../shared/data when present."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

#: Test data shipped beside the checkout (absent on a bare clone).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def nilearn_mni_t1() -> Path:
    """The MNI152 2009 T1 template (1 mm, skull-stripped) that ships inside the nilearn wheel."""
    import nilearn

    path = (
        Path(nilearn.__file__).parent
        / "datasets"
        / "data"
        / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    )
    if not path.exists():
        pytest.skip("nilearn's MNI152 template is not installed")
    return path


def downsampled_brain(out: Path, step: int = 2) -> Path:
    """Write the MNI152 T1 at ``step`` mm (every ``step``-th voxel) as int16 NIfTI to ``out``."""
    image = nib.load(str(nilearn_mni_t1()))
    data = np.asarray(image.dataobj, dtype=np.float32)[::step, ::step, ::step]
    affine = image.affine.copy()
    affine[:3, :3] *= step
    scaled = np.round(data / max(float(data.max()), 1.0) * 1000).astype(np.int16)
    nib.save(nib.Nifti1Image(scaled, affine), str(out))
    return out


def shared_file(relative: str) -> Path:
    """A file from ../shared/data, or skip the test when the folder is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{relative} is not available (no ../shared/data beside this checkout)")
    return path
