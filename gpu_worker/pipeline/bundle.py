"""Model bundles: a folder in MONAI bundle shape (configs/metadata.json, configs/inference.json,
docs/, LICENSE) plus where its weights are and the checksum each must have."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path

from gpu_worker.pipeline.types import StructureSpec

#: The bundle used when ``Settings.model_bundle`` is empty.
DEFAULT_BUNDLE_DIR = Path(__file__).resolve().parents[2] / "models" / "deepbet"


class BundleError(RuntimeError):
    """The model bundle is missing, malformed, or its weights fail their checksum (an operator
    problem, not the user's: the job should fail loudly, and retrying will not help either)."""


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle folder."""

    path: Path
    metadata: dict
    inference: dict

    @property
    def name(self) -> str:
        """Model name for the report."""
        return str(self.metadata.get("name", self.path.name))

    @property
    def version(self) -> str:
        """Bundle version for the report."""
        return str(self.metadata.get("version", "unknown"))

    @property
    def runner(self) -> str:
        """Which segmenter runs this bundle: "deepbet_two_stage" or "monai" (a network_def)."""
        return str(self.inference.get("mrimesh_runner", "monai"))

    @property
    def labels(self) -> dict[int, str]:
        """Label value -> name of every label in the segmentation, background included."""
        extra = self.metadata.get("mrimesh", {}).get("labels")
        if extra:
            return {int(k): str(v) for k, v in extra.items()}
        outputs = self.metadata.get("network_data_format", {}).get("outputs", {})
        pred = outputs.get("pred") or next(iter(outputs.values()), {})
        channels = pred.get("channel_def") or {"0": "background", "1": "foreground"}
        labels = {int(k): str(v) for k, v in channels.items()}
        labels.setdefault(0, "background")
        return labels

    @property
    def structures(self) -> tuple[StructureSpec, ...]:
        """Meshes to build: the bundle's own list, else one per non-background label."""
        specs = self.metadata.get("mrimesh", {}).get("structures")
        if specs:
            return tuple(
                StructureSpec(
                    name=str(s["name"]),
                    labels=tuple(int(v) for v in s["labels"]),
                    keep_largest=bool(s.get("keep_largest", True)),
                    fill_holes=bool(s.get("fill_holes", True)),
                )
                for s in specs
            )
        return tuple(
            StructureSpec(name=slug(name), labels=(value,))
            for value, name in sorted(self.labels.items())
            if value != 0
        )

    @property
    def weight_specs(self) -> list[dict]:
        """The ``mrimesh.weights`` entries: name, where the file is, and its sha256."""
        return list(self.metadata.get("mrimesh", {}).get("weights", []))


def slug(name: str) -> str:
    """A file-name-safe structure name: lower case, words joined by underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "structure"


def read_bundle(path: Path | str) -> Bundle:
    """Parse ``path``/configs/metadata.json and ``inference.json``."""
    path = Path(path).expanduser().resolve()
    try:
        metadata = json.loads((path / "configs" / "metadata.json").read_text())
        inference = json.loads((path / "configs" / "inference.json").read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"cannot read model bundle at {path}: {e}") from e
    return Bundle(path=path, metadata=metadata, inference=inference)


def locate_weight(bundle: Bundle, spec: dict) -> Path:
    """Find a weight file: inside an installed distribution (``"distribution"`` + ``"path"`` as
    listed in its RECORD) or relative to the bundle folder (``"path"`` alone)."""
    rel = str(spec["path"])
    dist = spec.get("distribution")
    if not dist:
        return bundle.path / rel
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise BundleError(f"package {dist!r} holding the model weights is not installed") from e
    for entry in files:
        if str(entry) == rel:
            return Path(str(entry.locate()))
    raise BundleError(f"{rel!r} is not part of the installed {dist!r} distribution")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verified_weight(bundle: Bundle, spec: dict) -> Path:
    """Locate a weight file and check it against the recorded sha256 (when one is recorded)."""
    path = locate_weight(bundle, spec)
    if not path.is_file():
        raise BundleError(f"model weights not found at {path}")
    expected = spec.get("sha256")
    if expected:
        actual = sha256_of(path)
        if actual != str(expected).lower():
            raise BundleError(
                f"checksum mismatch for {path}: expected sha256 {expected}, found {actual}"
            )
    return path
