"""A corpus of bad uploads: each must get a 4xx or a failed job with a reason a person understands.

Every case is made on the fly from small arrays, real files or plain bytes; none is committed.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 200


@dataclass(frozen=True)
class BadInput:
    """One bad upload: its file name, how to make its bytes, and what must happen."""

    case: str
    filename: str
    make: Callable[[Path], bytes]
    #: "reject" (4xx at upload), "fail" (accepted, then the job fails) or "either".
    expect: str = "either"


def _nifti(data: np.ndarray, *, compressed: bool = True, voxel: float = 1.0) -> bytes:
    image = nib.Nifti1Image(data, np.diag([voxel, voxel, voxel, 1.0]))
    raw = image.to_bytes()
    return gzip.compress(raw) if compressed else raw


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def _rgb() -> bytes:
    rgb = np.zeros((32, 32, 32), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    return _nifti(rgb)


def _huge_header() -> bytes:
    header = nib.Nifti2Header()
    header.set_data_shape((100000, 100000, 100000))
    header.set_data_dtype(np.int16)
    return header.binaryblock + b"\x00" * 4 + b"\x00" * 64


def _truncated_nii(brain: Path) -> bytes:
    raw = gzip.decompress(brain.read_bytes())
    return raw[: len(raw) // 3]


def _noise() -> np.ndarray:
    return np.random.default_rng(0).normal(100, 30, (64, 64, 64)).astype(np.float32)


def _dicm_garbage() -> bytes:
    return b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00" + b"\xff" * 300


def corpus(brain: Path) -> list[BadInput]:
    """At least 30 bad inputs; ``brain`` is a real 2 mm brain NIfTI used to damage."""
    zeros = np.zeros((64, 64, 64), np.int16)
    nan = np.full((64, 64, 64), np.nan, np.float32)
    inf = np.where(_noise() > 100, np.inf, 1.0).astype(np.float32)
    return [
        BadInput("empty .nii", "scan.nii", lambda _: b"", "reject"),
        BadInput("empty .nii.gz", "scan.nii.gz", lambda _: b"", "reject"),
        BadInput("empty .zip", "scan.zip", lambda _: b"", "reject"),
        BadInput("truncated gzip", "scan.nii.gz", lambda _: brain.read_bytes()[:4000]),
        BadInput("truncated .nii data", "scan.nii", lambda _: _truncated_nii(brain)),
        BadInput("wrong magic .nii", "scan.nii", lambda _: b"\x01\x02\x03\x04" * 200, "reject"),
        BadInput("PNG renamed .nii", "scan.nii", lambda _: PNG, "reject"),
        BadInput("PNG renamed .nii.gz", "scan.nii.gz", lambda _: PNG, "reject"),
        BadInput("JPEG renamed .mgz", "scan.mgz", lambda _: JPEG),
        BadInput("text renamed .nii", "notes.nii", lambda _: b"Dear colleague, " * 50, "reject"),
        BadInput("gzip of text as .nii.gz", "scan.nii.gz", lambda _: gzip.compress(b"hi " * 999)),
        BadInput(
            "gzip of random bytes as .mgz",
            "scan.mgz",
            lambda _: gzip.compress(np.random.default_rng(1).bytes(5000)),
        ),
        BadInput("header claims 100000^3 voxels", "huge.nii", lambda _: _huge_header(), "reject"),
        BadInput(
            "2D image", "slice.nii.gz", lambda _: _nifti(np.ones((64, 64), np.int16)), "reject"
        ),
        BadInput(
            "one slice thick",
            "slab.nii.gz",
            lambda _: _nifti(np.ones((64, 64, 1), np.int16)),
            "reject",
        ),
        BadInput(
            "5D image",
            "five.nii.gz",
            lambda _: _nifti(np.ones((20, 20, 20, 2, 2), np.int16)),
            "reject",
        ),
        BadInput("RGB image", "rgb.nii.gz", lambda _: _rgb(), "reject"),
        BadInput("NaN-filled", "nan.nii.gz", lambda _: _nifti(nan), "fail"),
        BadInput("all zeros", "zeros.nii.gz", lambda _: _nifti(zeros), "fail"),
        BadInput("infinite values", "inf.nii.gz", lambda _: _nifti(inf), "fail"),
        BadInput(
            "7x5x3 voxels", "tiny.nii.gz", lambda _: _nifti(np.ones((7, 5, 3), np.int16)), "reject"
        ),
        BadInput("random noise, not a head", "noise.nii.gz", lambda _: _nifti(_noise())),
        BadInput(
            "constant volume",
            "flat.nii.gz",
            lambda _: _nifti(np.full((64, 64, 64), 7, np.int16)),
            "fail",
        ),
        BadInput(
            "zip bomb",
            "bomb.zip",
            lambda _: _zip({"IM1.dcm": b"\x00" * (60 * 1024**2)}, zipfile.ZIP_DEFLATED),
            "reject",
        ),
        BadInput("zip slip", "slip.zip", lambda _: _zip({"../../evil.dcm": b"x" * 300}), "reject"),
        BadInput(
            "zip absolute path", "abs.zip", lambda _: _zip({"/etc/evil.dcm": b"x" * 300}), "reject"
        ),
        BadInput(
            "zip with no DICOM",
            "docs.zip",
            lambda _: _zip({"README.txt": b"hello", "notes/a.txt": b"more text"}),
            "fail",
        ),
        BadInput(
            "zip of a zip",
            "nested.zip",
            lambda _: _zip({"inner.zip": _zip({"a.txt": b"x"})}),
            "fail",
        ),
        BadInput(
            "truncated zip", "cut.zip", lambda _: _zip({"a.dcm": b"x" * 5000})[:200], "reject"
        ),
        BadInput("gzip named .zip", "scan.zip", lambda _: brain.read_bytes(), "reject"),
        BadInput(
            "broken DICOM files",
            "broken.zip",
            lambda _: _zip({f"IM{i}.dcm": _dicm_garbage() for i in range(3)}),
            "fail",
        ),
        BadInput(
            "NIfTI inside a zip",
            "nifti.zip",
            lambda _: _zip({"scan.nii.gz": brain.read_bytes()}),
            "fail",
        ),
        BadInput("executable", "setup.exe", lambda _: b"MZ" + b"\x00" * 500, "reject"),
        BadInput("raw .dcm upload", "IM0001.dcm", lambda _: _dicm_garbage(), "reject"),
        BadInput("no extension", "scan", lambda _: brain.read_bytes(), "reject"),
    ]
