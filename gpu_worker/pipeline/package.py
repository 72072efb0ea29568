"""Step 7, "Packaging": one zip of the results, made visible only once complete."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from gpu_worker.progress import report_fraction

#: Files stored as they are: .gz and .zip are compressed already, and GLB (float vertex data)
#: deflates only to about 64 % of its size at 0.12 s per structure. (The page no longer reads the
#: zip: it fetches each file from ``files/``.)
_STORED_SUFFIXES = (".gz", ".glb", ".zip", ".3mf")


def result_files(out_dir: Path, exclude: Path | None = None) -> list[Path]:
    """The files a result zip holds: every visible regular file directly in ``out_dir``."""
    exclude = exclude.resolve() if exclude else None
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.resolve() != exclude
    )


def package_results(out_dir: Path, zip_path: Path) -> Path:
    """Zip the meshes, segmentation and report.json in ``out_dir`` to ``zip_path``, atomically.

    The archive is written to a temporary file in ``zip_path``'s folder and renamed over
    ``zip_path`` only when complete, so nobody ever downloads half a zip.
    """
    out_dir, zip_path = Path(out_dir), Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    files = result_files(out_dir, exclude=zip_path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{zip_path.name}.", suffix=".part", dir=zip_path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for i, path in enumerate(files):
                stored = path.name.endswith(_STORED_SUFFIXES)
                archive.write(
                    path,
                    arcname=path.name,
                    compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                    compresslevel=None if stored else 1,
                )
                report_fraction(0.95 * (i + 1) / max(len(files), 1))
        os.chmod(tmp, 0o644)
        os.replace(tmp, zip_path)
    finally:
        tmp.unlink(missing_ok=True)
    return zip_path
