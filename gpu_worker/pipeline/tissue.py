"""Grey matter, white matter and CSF inside a brain mask: a Gaussian mixture fitted by EM, then
mean-field smoothing with a Potts prior (a Markov random field), all in torch on the device."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own spelling

from gpu_worker.pipeline.quantiles import quantiles

#: Smallest exponent taken in the class softmax: exp(-80) is a normal float32 (subnormals start
#: below exp(-87.3)), negligible beside the winning class's exp(0) = 1.
_MIN_EXPONENT = -80.0

#: Label values of the tissue classes (FSL FAST order).
CSF, GREY_MATTER, WHITE_MATTER = 1, 2, 3


@dataclass(frozen=True)
class TissueParams:
    """Knobs of the tissue model; the defaults suit T1-weighted scans at 1 mm."""

    em_iterations: int = 40  #: EM steps on the intensity histogram
    histogram_bins: int = 256  #: bins of the intensity histogram EM is fitted to
    mrf_beta: float = 0.6  #: strength of the neighbourhood prior (0 disables it)
    mrf_iterations: int = 2  #: mean-field updates
    tied_tissue_variance: bool = True  #: grey and white matter share one variance
    #: voxels at or below this (0 = the scan's robust minimum, i.e. air) are CSF outright and
    #: left out of the fit: templates and skull-stripped scans set CSF to exactly zero
    dark_floor: float = 0.01
    #: model CSF as a flat tail below grey matter instead of a Gaussian (see :class:`Mixture`)
    uniform_csf: bool = True


@dataclass(frozen=True)
class Mixture:
    """Fitted class means, standard deviations and weights, ordered CSF, GM, WM.

    With ``uniform_csf`` the CSF class is not a Gaussian but flat from ``low`` up to the grey
    matter mean: dark CSF and its partial-volume blend with grey matter form a long tail, not a
    peak, and a Gaussian stretched over that tail would eat the dark half of grey matter.
    """

    means: torch.Tensor
    stds: torch.Tensor
    weights: torch.Tensor
    low: float = 0.0
    uniform_csf: bool = False

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log(weight * density) of each class at ``x``, classes along a new leading axis."""
        shape = (-1,) + (1,) * x.dim()
        means, stds = self.means.view(shape), self.stds.view(shape)
        out = (
            -0.5 * ((x[None] - means) / stds) ** 2
            - torch.log(stds)
            + torch.log(self.weights.view(shape))
        )
        if self.uniform_csf:
            span = (self.means[1] - self.low).clamp_min(1e-3)
            flat = torch.log(self.weights[0]) - torch.log(span) + 0.5 * math.log(2 * math.pi)
            out[0] = torch.where(x <= self.means[1], flat, torch.full_like(x, -1e4))
        return out


def fit_mixture(values: torch.Tensor, params: TissueParams) -> Mixture:
    """Fit the 3-class intensity model to ``values`` by EM on their histogram.

    The histogram spans the 0.1-99.9 percentile range of ``values``, so a few extreme voxels
    (vessels, fat at the mask's edge) do not squeeze the tissue peaks into a few bins.
    """
    bins = params.histogram_bins
    values = values.float()
    stride = max(1, values.numel() // 2_000_000)
    lo_f, hi_f = quantiles(values[::stride].contiguous(), [0.001, 0.999])
    hist = torch.histc(values, bins=bins, min=lo_f, max=hi_f)
    lo = torch.tensor(lo_f, device=values.device)
    width = torch.tensor(hi_f - lo_f, device=values.device).clamp_min(1e-6)
    centers = (
        lo + width * (torch.arange(bins, device=values.device, dtype=torch.float32) + 0.5) / bins
    )
    cdf = torch.cumsum(hist, 0) / hist.sum()
    starts = torch.tensor([0.05, 0.4, 0.85], device=values.device)
    means = centers[torch.searchsorted(cdf, starts).clamp(max=bins - 1)]
    stds = torch.full((3,), 0.1, device=values.device) * width
    weights = torch.full((3,), 1.0 / 3.0, device=values.device)
    mixture = Mixture(means, stds, weights, float(lo), params.uniform_csf)
    for _ in range(params.em_iterations):
        resp = torch.softmax(mixture.log_likelihood(centers), dim=0).T * hist[:, None]
        n = resp.sum(0).clamp_min(1e-6)
        means = (resp * centers[:, None]).sum(0) / n
        scatter = (resp * (centers[:, None] - means) ** 2).sum(0)
        n_for_var = n.clone()
        if params.tied_tissue_variance:
            # Grey and white matter share one variance, otherwise the narrow white-matter
            # peak loses its lower tail to the wide grey-matter class.
            scatter[1:] = scatter[1:].sum()
            n_for_var[1:] = n[1:].sum()
        stds = torch.sqrt(scatter / n_for_var).clamp_min(float(width) / bins)
        order = torch.argsort(means)
        if params.uniform_csf:
            order = torch.cat([order.new_zeros(1), order[order != 0]])
        mixture = Mixture(
            means[order], stds[order], n[order] / n.sum(), float(lo), params.uniform_csf
        )
    return mixture


def _neighbour_sum(q: torch.Tensor) -> torch.Tensor:
    """Sum over the 6 face neighbours of each voxel, per class; q is (K, X, Y, Z), zero beyond
    its edges. Six in-place adds of shifted views (no padded copy), in a fixed order."""
    out = torch.zeros_like(q)
    out[:, 1:] += q[:, :-1]
    out[:, :-1] += q[:, 1:]
    out[:, :, 1:] += q[:, :, :-1]
    out[:, :, :-1] += q[:, :, 1:]
    out[:, :, :, 1:] += q[:, :, :, :-1]
    out[:, :, :, :-1] += q[:, :, :, 1:]
    return out


def _softmax_classes(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the first (class) axis of a (K, X, Y, Z) tensor, as whole-volume operations
    (torch's reduction over a short leading axis is several times slower on CPU)."""
    top = logits[0]
    for k in range(1, logits.shape[0]):
        top = torch.maximum(top, logits[k])
    # exp below -80 is below 2e-35 next to the top class's 1, nothing a probability can show;
    # left alone, differences near -90 give subnormal floats, which the CPU handles up to a
    # hundred times slower (measured: 1.1 s instead of 0.05 s per exp, and every later add
    # over them slow too).
    e = torch.exp((logits - top).clamp_min_(_MIN_EXPONENT))
    total = e[0]
    for k in range(1, e.shape[0]):
        total = total + e[k]
    return e / total


def _argmax_classes(q: torch.Tensor) -> torch.Tensor:
    """Index of the largest class per voxel of a (K, X, Y, Z) tensor."""
    best, index = q[0], torch.zeros(q.shape[1:], dtype=torch.long, device=q.device)
    for k in range(1, q.shape[0]):
        better = q[k] > best
        best = torch.where(better, q[k], best)
        index = torch.where(better, k, index)
    return index


def _depth(mask: torch.Tensor) -> torch.Tensor:
    """A cheap 'distance from the brain surface' in 0..1: the mask blurred by a 2 cm box."""
    small = F.avg_pool3d(mask[None, None].float(), 4, ceil_mode=True)
    blurred = F.avg_pool3d(small, 5, stride=1, padding=2, count_include_pad=True)
    return F.interpolate(blurred, size=mask.shape, mode="trilinear")[0, 0]


def classify_tissue(
    image: torch.Tensor, brain: torch.Tensor, params: TissueParams | None = None
) -> torch.Tensor:
    """Label each voxel of ``brain`` as CSF (1), grey matter (2) or white matter (3); 0 outside.

    ``image`` holds intensities scaled to 0..1 and ``brain`` is a boolean mask of the same shape,
    both on the same device. In T1-weighted images CSF is darkest and white matter brightest;
    when the brightest class lies nearer the surface than the middle one (FLAIR, where grey
    matter outshines white), grey and white are swapped.
    """
    params = params or TissueParams()
    labels = torch.zeros(image.shape, dtype=torch.uint8, device=image.device)
    box = _bounding_box(brain)
    if box is None:
        return labels
    mask = brain[box].contiguous()
    # Every per-voxel quantity lives on the brain's voxels only, as (classes, voxels): outside
    # the mask nothing is labelled, and the neighbour prior sees zeros there. ``inside`` indexes
    # them in the flattened box (one nonzero pass instead of one per boolean indexing).
    inside = torch.nonzero(mask.reshape(-1))[:, 0]
    values = image[box].reshape(-1).index_select(0, inside)
    dark = values <= params.dark_floor
    mixture = fit_mixture(values[~dark] if bool((~dark).any()) else values, params)
    log_lik = mixture.log_likelihood(values)
    log_lik[1:, dark] = -1e4
    q = _softmax_classes(log_lik)
    volume = torch.zeros((q.shape[0], *mask.shape), dtype=q.dtype, device=q.device)
    flat = volume.view(q.shape[0], -1)
    for _ in range(params.mrf_iterations):
        flat.index_copy_(1, inside, q)
        neighbours = _neighbour_sum(volume).view(q.shape[0], -1).index_select(1, inside)
        q = _softmax_classes(log_lik + params.mrf_beta * neighbours)
    classes = _argmax_classes(q)  # 0 darkest .. 2 brightest
    depth = _depth(mask).reshape(-1).index_select(0, inside)
    mid = depth[classes == 1].mean()
    bright = depth[classes == 2].mean()
    lut = torch.tensor([CSF, GREY_MATTER, WHITE_MATTER], dtype=torch.uint8, device=image.device)
    if bool(bright < mid):
        lut = torch.tensor([CSF, WHITE_MATTER, GREY_MATTER], dtype=torch.uint8, device=image.device)
    inner = torch.zeros(mask.shape, dtype=torch.uint8, device=image.device)
    inner.view(-1).index_copy_(0, inside, lut[classes])
    labels[box] = inner
    return labels


def _bounding_box(mask: torch.Tensor) -> tuple[slice, slice, slice] | None:
    """Slices of the smallest box holding every True voxel, or None for an empty mask."""
    box = []
    for axis in range(3):
        dims = tuple(d for d in range(3) if d != axis)
        hits = torch.nonzero(mask.any(dim=dims[1]).any(dim=dims[0]))[:, 0]
        if hits.numel() == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return box[0], box[1], box[2]
