"""Scrub NIfTI header fields that can carry a name, a date or free text."""

from __future__ import annotations

import nibabel as nib

#: Free-text NIfTI-1/2 header fields, cleared in every file the pipeline writes.
TEXT_FIELDS = ("descrip", "aux_file", "db_name", "intent_name", "data_type")


def scrub_nifti_header(header: nib.Nifti1Header) -> nib.Nifti1Header:
    """Return a copy of ``header`` with its text fields blanked and its extensions dropped."""
    clean = header.copy()
    for field in TEXT_FIELDS:
        if field in clean:
            clean[field] = b""
    clean.extensions.clear()
    return clean
