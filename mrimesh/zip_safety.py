"""Zip safety, decided from the central directory before one byte is inflated.

Shared by the API's upload gate and the worker's DICOM loader, so both refuse the same archives
with the same words: paths that escape the folder, links, encryption, too many members, too many
bytes, ratios no medical image reaches (zip bombs).
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import PurePosixPath

from mrimesh import limits
from mrimesh.errors import ErrorCode

#: Members (and archives) smaller than this are never judged by their compression ratio.
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class ZipRefusedError(Exception):
    """The archive is unsafe or too large; ``message`` is for a person, ``code`` the registry's."""

    def __init__(self, message: str | None = None, *, code: ErrorCode):
        self.code = ErrorCode(code)
        self.message = message or self.code.message
        super().__init__(self.message)


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or "\x00" in name:
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return ".." in parts


def _skipped(info: zipfile.ZipInfo) -> bool:
    """Folders and operating-system clutter (``__MACOSX/``, ``.DS_Store``) are not DICOM files."""
    parts = PurePosixPath(info.filename.replace("\\", "/")).parts
    return info.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1].startswith(".")


def check_zip_directory(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Refuse archives that could escape the folder or fill the disk; return the members to read.

    Everything is decided from the central directory before one byte is inflated; the sizes it
    declares are enforced again while extracting, since an archive can lie about them.
    """
    infos = archive.infolist()
    if len(infos) > limits.MAX_ZIP_MEMBERS:
        raise ZipRefusedError(
            f"The zip holds {len(infos)} files; at most {limits.MAX_ZIP_MEMBERS} are accepted.",
            code=ErrorCode.ZIP_TOO_MANY_FILES,
        )
    for info in infos:
        if _unsafe_name(info.filename):
            raise ZipRefusedError(
                "The zip contains a file path that points outside the archive "
                f"({info.filename!r}); it was refused.",
                code=ErrorCode.ZIP_UNSAFE_PATH,
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ZipRefusedError(code=ErrorCode.ZIP_SYMLINK)
        if info.flag_bits & 0x1:
            raise ZipRefusedError(code=ErrorCode.ZIP_ENCRYPTED)
    members = [i for i in infos if not _skipped(i)]
    total = sum(i.file_size for i in members)
    packed = sum(i.compress_size for i in members)
    if total > limits.MAX_ZIP_UNCOMPRESSED_BYTES:
        raise ZipRefusedError(
            f"The zip would expand to {total / 1024**3:.1f} GiB; at most "
            f"{limits.MAX_ZIP_UNCOMPRESSED_BYTES / 1024**3:.0f} GiB are accepted.",
            code=ErrorCode.ZIP_TOO_LARGE,
        )
    if total > _CHUNK and total / max(packed, 1) > limits.MAX_ZIP_TOTAL_RATIO:
        raise ZipRefusedError(code=ErrorCode.ZIP_BOMB)
    for info in members:
        if info.file_size > _CHUNK and info.file_size / max(info.compress_size, 1) > (
            limits.MAX_ZIP_RATIO
        ):
            raise ZipRefusedError(
                f"A file in the zip is compressed {info.file_size // max(info.compress_size, 1)}"
                " times, far more than a medical image can be (a zip bomb?).",
                code=ErrorCode.ZIP_BOMB,
            )
    return members
