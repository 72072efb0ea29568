"""A hospital-CD-style zip of DICOM files made from a real brain volume (pydicom), for tests of
the DICOM path end to end: a full axial T1 series, a 3-slice localizer, a DICOMDIR, patient
details in every header, file names without extensions."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

#: What the headers say about the patient; none of it may reach any output.
PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "MRN-4711-JD"
PATIENT_BIRTH_DATE = "19700101"


def _slice(
    pixels: np.ndarray,
    *,
    study: str,
    series: str,
    frame: str,
    number: int,
    description: str,
    instance: int,
    position: tuple[float, float, float],
    orientation: tuple[float, ...],
    spacing: float,
) -> Dataset:
    """One slice as a DICOM dataset, file meta included."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientSex = "F"
    ds.InstitutionName = "St Elsewhere Hospital"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StudyDate = ds.SeriesDate = "20260101"
    ds.StudyTime = ds.SeriesTime = "101500"
    ds.AccessionNumber = "ACC123"
    ds.StudyID = "1"
    ds.Modality = "MR"
    ds.Manufacturer = "mrimesh tests"
    ds.MagneticFieldStrength = 3
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SP"
    ds.MRAcquisitionType = "3D"
    ds.RepetitionTime = 2300
    ds.EchoTime = 2.98
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.ProtocolName = description
    ds.InstanceNumber = instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:g}" for v in orientation]
    ds.PixelSpacing = [f"{spacing:g}", f"{spacing:g}"]
    ds.SliceThickness = f"{spacing:g}"
    ds.SpacingBetweenSlices = f"{spacing:g}"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
    return ds


def dicom_cd_zip(brain_nifti: Path, out: Path) -> Path:
    """Write ``out``: ``brain_nifti`` (axis-aligned RAS, isotropic) as an axial DICOM series
    (series 3, "t1_mprage_sag"), plus a 3-slice localizer (series 1), in a DICOMDIR file set."""
    image = nib.load(str(brain_nifti))
    volume = np.asarray(image.dataobj).astype(np.int16)
    spacing = float(abs(image.affine[0, 0]))
    nx, ny, nz = volume.shape
    origin_ras = image.affine[:3, 3]
    study, frame = generate_uid(), generate_uid()
    file_set = FileSet()
    # Axial slices: DICOM is LPS; rows run to Left (+x), columns to Posterior (+y).
    # Pixel (r, c) of slice k is RAS voxel (nx-1-c, ny-1-r, k).
    left0 = -(origin_ras[0] + spacing * (nx - 1))
    posterior0 = -(origin_ras[1] + spacing * (ny - 1))
    series = generate_uid()
    for k in range(nz):
        z = origin_ras[2] + spacing * k
        file_set.add(
            _slice(
                volume[::-1, ::-1, k].T,
                study=study, series=series, frame=frame, number=3,
                description="t1_mprage_3d", instance=k + 1,
                position=(left0, posterior0, z), orientation=(1, 0, 0, 0, 1, 0),
                spacing=spacing,
            )
        )  # fmt: skip
    localizer = generate_uid()
    for k, x in enumerate((-10.0, 0.0, 10.0)):  # three sagittal slices through the middle
        file_set.add(
            _slice(
                np.full((64, 64), 100, np.int16),
                study=study, series=localizer, frame=frame, number=1,
                description="localizer", instance=k + 1,
                position=(x, -120.0, 120.0), orientation=(0, 1, 0, 0, 0, -1),
                spacing=4.0,
            )
        )  # fmt: skip
    staging = out.with_suffix(".cd")
    file_set.write(staging)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(staging).as_posix())
    return out
