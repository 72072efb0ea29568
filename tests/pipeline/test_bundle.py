"""Any MONAI bundle an operator supplies: a tiny network this test builds, run for real."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from gpu_worker.pipeline.bundle import BundleError, sha256_of
from gpu_worker.pipeline.models import get_segmenter
from gpu_worker.pipeline.options import PipelineOptions
from gpu_worker.pipeline.run import run_pipeline
from mrimesh.config import Settings

RADIUS_MM = 30.0


def ball_scan(path: Path) -> Path:
    """A bright ball of radius 30 mm in a dim, smoothly varying background, 1.5 mm voxels."""
    n = 100
    idx = np.indices((n, n, n)).astype(np.float32) * 1.5 - 75.0
    r = np.sqrt((idx**2).sum(axis=0))
    image = np.where(r < RADIUS_MM, 900.0, 100.0 + idx[0]).astype(np.float32)
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    affine[:3, 3] = -75.0
    nib.save(nib.Nifti1Image(image, affine), str(path))
    return path


def threshold_net() -> torch.nn.Conv3d:
    """Two output channels: background 0, "ball" 20·(x − 0.5), so the ball wins above x = 0.5."""
    net = torch.nn.Conv3d(1, 2, kernel_size=1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([0.0, 20.0]).view(2, 1, 1, 1, 1))
        net.bias.copy_(torch.tensor([0.0, -10.0]))
    return net


def make_bundle(root: Path, torchscript: bool, record_checksum: bool = True) -> Path:
    """A MONAI bundle folder: configs/metadata.json, configs/inference.json, models/model.*."""
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    net = threshold_net()
    if torchscript:
        weights = root / "models" / "model.ts"
        torch.jit.script(net).save(str(weights))
    else:
        weights = root / "models" / "model.pt"
        torch.save(net.state_dict(), weights)
    metadata = {
        "version": "0.1.0",
        "name": "ball finder",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "num_channels": 1}},
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 2,
                    "channel_def": {"0": "background", "1": "Ball"},
                }
            },
        },
    }
    if record_checksum:
        metadata["mrimesh"] = {
            "weights": [
                {
                    "name": weights.name,
                    "path": f"models/{weights.name}",
                    "sha256": sha256_of(weights),
                }
            ]
        }
    inference = {
        "imports": ["$import torch"],
        "network_def": {
            "_target_": "torch.nn.Conv3d",
            "in_channels": 1,
            "out_channels": 2,
            "kernel_size": 1,
        },
        "inferer": {
            "_target_": "SlidingWindowInferer",
            "roi_size": [64, 64, 64],
            "sw_batch_size": 1,
        },
    }
    (root / "configs" / "metadata.json").write_text(json.dumps(metadata))
    (root / "configs" / "inference.json").write_text(json.dumps(inference))
    return root


@pytest.mark.parametrize("torchscript", [False, True], ids=["state_dict", "torchscript"])
def test_operator_bundle_segments_and_meshes(tmp_path: Path, torchscript: bool) -> None:
    # Given a bundle selected the way an operator would, through MRIMESH_MODEL_BUNDLE
    bundle = make_bundle(tmp_path / "bundle", torchscript)
    settings = Settings.from_env({"MRIMESH_MODEL_BUNDLE": str(bundle), "MRIMESH_DEVICE": "cpu"})
    # When a scan of a ball goes through the pipeline
    report = run_pipeline(
        ball_scan(tmp_path / "ball.nii.gz"),
        tmp_path / "out",
        PipelineOptions(formats=("stl",), work_spacing_mm=1.5),
        settings,
    )
    # Then the bundle's label became a mesh of the ball's size, named from its channel_def
    assert report["model"]["name"] == "ball finder"
    assert report["labels"] == {"0": "background", "1": "Ball"}
    (ball,) = report["structures"]
    assert ball["name"] == "ball" and ball["label"] == 1
    expected_ml = 4 / 3 * np.pi * RADIUS_MM**3 / 1000
    assert ball["volume_ml"] == pytest.approx(expected_ml, rel=0.05)
    assert ball["watertight"] and ball["manifold"] and ball["outward_normals"]
    assert (tmp_path / "out" / "ball.stl").is_file()


def test_bundle_with_tampered_weights_is_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", torchscript=False)
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    state["bias"] += 1.0
    torch.save(state, bundle / "models" / "model.pt")
    with pytest.raises(BundleError, match="checksum"):
        get_segmenter(str(bundle), "cpu")


def test_bundle_without_weights_is_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", torchscript=False, record_checksum=False)
    (bundle / "models" / "model.pt").unlink()
    with pytest.raises(BundleError, match=r"model\.ts nor models/model\.pt"):
        get_segmenter(str(bundle), "cpu")
