"""Segmenters: the networks of a bundle, loaded once, run on the device.

:class:`DeepbetSegmenter` runs the default bundle (deepbet's two-stage brain extraction, then
the tissue model); :class:`MonaiBundleSegmenter` runs any MONAI bundle an operator supplies.
Both take the prepared (X, Y, Z) volume on the device and return a uint8 label map on the device;
nothing is copied to the host inside the inference path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own spelling

from gpu_worker.pipeline.bundle import Bundle, BundleError, verified_weight
from gpu_worker.pipeline.errors import InputError
from gpu_worker.pipeline.tissue import TissueParams, classify_tissue

if TYPE_CHECKING:
    from monai.bundle import ConfigParser

logger = logging.getLogger(__name__)

#: A network call: input batch -> output batch (MONAI's ``Inferer`` signature, or a plain call).
Inferer = Callable[[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]], torch.Tensor]
#: ``inferer`` targets that mean "call the network on the whole input" (MONAI's SimpleInferer).
_PLAIN_INFERERS = {"SimpleInferer", "monai.inferers.SimpleInferer"}

Progress = Callable[[float], None]


def _no_progress(_: float) -> None:
    return None


def _synchronized(tensor: torch.Tensor) -> float:
    """``time.perf_counter()`` once the device has finished computing ``tensor``."""
    if tensor.is_cuda:
        torch.cuda.synchronize(tensor.device)
    return time.perf_counter()


@dataclass
class Segmenter:
    """What every runner shares: its bundle, device, inferer and how to describe itself."""

    bundle: Bundle
    device: torch.device
    #: how the label map is cleaned afterwards: "brain_tissue" or "per_label"
    postprocess: str = "per_label"
    checksums: dict[str, str] = field(default_factory=dict)
    #: seconds spent in each part of the last :meth:`segment` call
    timings: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        """The report's "model" section."""
        return {
            "name": self.bundle.name,
            "version": self.bundle.version,
            "bundle": self.bundle.path.name,
            "runner": self.bundle.runner,
            "weights_sha256": dict(self.checksums),
        }

    def segment(self, image: torch.Tensor, progress: Progress = _no_progress) -> torch.Tensor:
        """Label map (X, Y, Z) uint8 on the device for the prepared ``image``."""
        raise NotImplementedError

    def warmup(self) -> None:
        """Run the networks once on dummy data so the first job does not pay for allocation."""


def _parser(bundle: Bundle) -> ConfigParser:
    from monai.bundle import ConfigParser  # MONAI takes seconds to import: only when needed

    parser = ConfigParser()
    parser.read_meta(str(bundle.path / "configs" / "metadata.json"))
    parser.read_config(str(bundle.path / "configs" / "inference.json"))
    parser["bundle_root"] = str(bundle.path)
    return parser


def _plain_call(
    inputs: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    return network(inputs)


def _inferer(bundle: Bundle) -> Inferer:
    """The bundle's ``inferer``: a plain network call for none or MONAI's SimpleInferer (which is
    exactly that, so MONAI is not imported for it), else MONAI's, built from inference.json."""
    spec = bundle.inference.get("inferer")
    if spec is None or (
        isinstance(spec, dict) and set(spec) == {"_target_"} and spec["_target_"] in _PLAIN_INFERERS
    ):
        return _plain_call
    return _parser(bundle).get_parsed_content("inferer")


def _load_torchscript(path, device: torch.device) -> torch.jit.ScriptModule:
    model = torch.jit.load(str(path), map_location=device)
    return model.eval()


class DeepbetSegmenter(Segmenter):
    """deepbet (Fisch et al., 2024): a low-resolution network finds the brain's bounding box, a
    second network segments the brain in that box resized to 256³; the tissue model then splits
    the brain into CSF, grey and white matter."""

    def __init__(self, bundle: Bundle, device: torch.device) -> None:
        super().__init__(bundle=bundle, device=device, postprocess="brain_tissue")
        cfg = bundle.inference
        paths = {}
        for spec in bundle.weight_specs:
            path = verified_weight(bundle, spec)
            paths[spec["name"]] = path
            self.checksums[spec["name"]] = str(spec.get("sha256", ""))
        try:
            self.bbox_net = _load_torchscript(paths[cfg["bbox_weights"]], device)
            self.mask_net = _load_torchscript(paths[cfg["mask_weights"]], device)
        except KeyError as e:
            raise BundleError(f"bundle {bundle.path} names no weights {e}") from e
        self.inferer = _inferer(bundle)
        self.bbox_shape = tuple(int(s) for s in cfg["bbox_shape"])
        self.crop_shape = tuple(int(s) for s in cfg["crop_shape"])
        self.bbox_margin = float(cfg["bbox_margin"])
        self.bbox_min_fraction = float(cfg["bbox_min_fraction"])
        self.threshold = float(cfg["threshold"])
        self.norm_mean = float(cfg["normalize"]["mean"])
        self.norm_std = float(cfg["normalize"]["std"])
        self.tissue = TissueParams(**cfg.get("tissue", {}))

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """deepbet's input scaling: clip the robust range to 0..1, z-score, then mean 0.449 and
        std 0.226 (ImageNet's)."""
        x = x.clamp(0.0, 1.0)
        x = (x - x.mean()) / x.std().clamp_min(1e-6)
        return self.norm_std * x + self.norm_mean

    def _box(self, prob_small: torch.Tensor, shape: tuple[int, ...]) -> tuple[slice, ...]:
        """Bounding box of the low-resolution brain, scaled to ``shape`` with a margin."""
        fg = (prob_small > 0.5).float()
        box = []
        for axis in range(3):
            others = tuple(d for d in range(3) if d != axis)
            hits = torch.nonzero(fg.mean(dim=others) > self.bbox_min_fraction)[:, 0]
            if hits.numel() == 0:
                raise InputError("No brain was found in this scan.", code="no_brain")
            lo, hi = int(hits[0]), int(hits[-1]) + 1
            scale = shape[axis] / fg.shape[axis]
            center, size = (lo + hi) / 2 * scale, (hi - lo) * scale * (1 + 2 * self.bbox_margin)
            start = max(0, round(center - size / 2))
            stop = min(shape[axis], round(center + size / 2))
            box.append(slice(start, stop))
        return tuple(box)

    @torch.inference_mode()
    def brain_mask(self, image: torch.Tensor, progress: Progress = _no_progress) -> torch.Tensor:
        """Boolean brain mask (X, Y, Z) on the device."""
        x = image[None, None].float()
        small = F.interpolate(x, self.bbox_shape, mode="nearest-exact")
        prob_small = self.inferer(self._normalize(small), self.bbox_net)[0, 1]
        progress(0.25)
        box = self._box(prob_small, tuple(image.shape))
        crop = x[(slice(None), slice(None), *box)]
        big = F.interpolate(crop, self.crop_shape, mode="nearest-exact")
        prob = self.inferer(self._normalize(big), self.mask_net)[:, 1:2]
        progress(0.7)
        prob = F.interpolate(prob, crop.shape[2:], mode="trilinear", align_corners=False)[0, 0]
        mask = torch.zeros(image.shape, dtype=torch.bool, device=image.device)
        mask[box] = prob > self.threshold
        return mask

    @torch.inference_mode()
    def segment(self, image: torch.Tensor, progress: Progress = _no_progress) -> torch.Tensor:
        start = time.perf_counter()
        brain = self.brain_mask(image, progress)
        if not bool(brain.any()):  # also waits for the device, so the timing below is true
            raise InputError("No brain was found in this scan.", code="no_brain")
        networks = time.perf_counter()
        labels = classify_tissue(image, brain, self.tissue)
        self.timings = {
            "brain_mask_networks": networks - start,
            "tissue_model": _synchronized(labels) - networks,
        }
        progress(1.0)
        return labels

    @torch.inference_mode()
    def warmup(self) -> None:
        self.bbox_net(torch.zeros((1, 1, *self.bbox_shape), device=self.device))
        self.mask_net(torch.zeros((1, 1, *self.crop_shape), device=self.device))


class MonaiBundleSegmenter(Segmenter):
    """Any MONAI bundle: ``network_def`` from inference.json with ``models/model.pt`` (state dict),
    or ``models/model.ts`` (TorchScript); ``inferer`` from inference.json, else a plain call.
    Its output channels are arg-maxed (one channel: thresholded at 0.5 after a sigmoid)."""

    def __init__(self, bundle: Bundle, device: torch.device) -> None:
        super().__init__(bundle=bundle, device=device, postprocess="per_label")
        for spec in bundle.weight_specs:
            verified_weight(bundle, spec)
            self.checksums[str(spec.get("name", spec["path"]))] = str(spec.get("sha256", ""))
        parser = _parser(bundle)
        ts, pt = bundle.path / "models" / "model.ts", bundle.path / "models" / "model.pt"
        if ts.is_file():
            self.network = _load_torchscript(ts, device)
        elif pt.is_file():
            if parser.get("network_def") is None:
                raise BundleError(f"{bundle.path}: inference.json defines no network_def")
            network = parser.get_parsed_content("network_def")
            state = torch.load(str(pt), map_location=device, weights_only=True)
            if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
                state = state["model"]
            network.load_state_dict(state)
            self.network = network.to(device).eval()
        else:
            raise BundleError(f"{bundle.path}: neither models/model.ts nor models/model.pt exists")
        self.inferer = _inferer(bundle)

    @torch.inference_mode()
    def segment(self, image: torch.Tensor, progress: Progress = _no_progress) -> torch.Tensor:
        start = time.perf_counter()
        logits = self.inferer(image[None, None].float(), self.network)
        if isinstance(logits, tuple | list):
            logits = logits[0]
        self.timings = {"network": _synchronized(logits) - start}
        progress(0.8)
        if logits.shape[1] == 1:
            labels = (torch.sigmoid(logits[0, 0]) > 0.5).to(torch.uint8)
        else:
            labels = torch.argmax(logits[0], dim=0).to(torch.uint8)
        progress(1.0)
        return labels


RUNNERS: dict[str, type[Segmenter]] = {
    "deepbet_two_stage": DeepbetSegmenter,
    "monai": MonaiBundleSegmenter,
}
