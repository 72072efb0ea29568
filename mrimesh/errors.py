"""Every error code the service (and its page) shows, in one registry.

A code is a stable slug: the ``code`` of a JSON error, the ``error_code`` of a failed job, the
``code`` label of ``mrimesh_jobs_failed_total``, and what the page branches on. Each has the HTTP
status an API answer with it carries, its cause (who can fix it) and the words a person reads.
A raise site may say more than the registry's words (which file, how large); it never invents a
code: :class:`ErrorCode` refuses a slug it does not hold. ``docs/operations.md`` lists the table
(a test keeps the two equal).
"""

from __future__ import annotations

from enum import StrEnum


class Cause(StrEnum):
    """Who can do something about an error."""

    #: the uploaded scan itself: the person must upload another
    INPUT = "input"
    #: the request (an unknown job, too many requests, a job in the wrong state)
    REQUEST = "request"
    #: the service: an operator should look (alert on these)
    SERVICE = "service"
    #: the page's own, when no usable answer came back (HTTP status 0)
    PAGE = "page"


class ErrorCode(StrEnum):
    """A code, with :attr:`http_status`, :attr:`cause` and :attr:`message` (for people)."""

    http_status: int
    cause: Cause
    message: str

    def __new__(cls, slug: str, http_status: int, cause: str, message: str) -> ErrorCode:
        member = str.__new__(cls, slug)
        member._value_ = slug
        member.http_status = http_status
        member.cause = Cause(cause)
        member.message = message
        return member

    # -- the request ---------------------------------------------------------------------------
    BAD_REQUEST = "bad_request", 400, "request", "The request is not valid."
    NO_FILE = (
        "no_file", 400, "request",
        "No file was sent; choose a brain MRI (.nii, .nii.gz, .mgz or .zip).",
    )  # fmt: skip
    NOT_FOUND = "not_found", 404, "request", "Not found."
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "request", "This method is not allowed here."
    CONFLICT = "conflict", 409, "request", "This cannot be done in the job's present state."
    ALREADY_FINISHED = "already_finished", 409, "request", "The job has already finished."
    NOT_READY = (
        "not_ready", 409, "request", "The job has not finished; there is nothing to download yet."
    )  # fmt: skip
    CANCELLED = "cancelled", 409, "request", "Cancelled at your request."
    GONE = "gone", 410, "request", "The result files are no longer available."
    EXPIRED = "expired", 410, "request", "This job has expired and its files were deleted."
    RATE_LIMITED = (
        "rate_limited", 429, "request", "Too many requests; please slow down and try again shortly."
    )  # fmt: skip
    # -- print options and re-makes (issue 11) ---------------------------------------------------
    INVALID_OPTION = (
        "invalid_option", 422, "request",
        "A print option is not valid; the message names it and its allowed values.",
    )  # fmt: skip
    NOT_REMAKEABLE = (
        "not_remakeable", 409, "request",
        "This job's pieces cannot be made again (it did not complete, or its segmentation is "
        "gone); upload the scan again.",
    )  # fmt: skip

    # -- the upload, refused at once by the API or failed by the worker's loader ------------------
    TOO_LARGE = "too_large", 413, "input", "The file is too large."
    UNSUPPORTED_TYPE = (
        "unsupported_type", 415, "input",
        "This file type is not supported. Upload a NIfTI (.nii, .nii.gz), FreeSurfer .mgz, "
        "or a .zip of one DICOM series.",
    )  # fmt: skip
    INVALID_INPUT = "invalid_input", 422, "input", "This file cannot be turned into meshes."
    EMPTY_FILE = "empty_file", 422, "input", "The file is empty."
    INVALID_IMAGE = "invalid_image", 422, "input", "This file is not a readable MRI image."
    UNREADABLE = "unreadable", 422, "input", "The file could not be read."
    DAMAGED_FILE = "damaged_file", 422, "input", "The file is truncated or damaged."
    NOT_MEDICAL_IMAGE = (
        "not_medical_image", 422, "input",
        "This is not a NIfTI, MGZ or DICOM image.",
    )  # fmt: skip
    BAD_HEADER = "bad_header", 422, "input", "The image header is invalid."
    BAD_AFFINE = (
        "bad_affine", 422, "input", "The image orientation (affine) in the header is invalid."
    )  # fmt: skip
    RGB = "rgb", 422, "input", "This is a colour (RGB) image; a greyscale MRI volume is needed."
    COMPLEX = "complex", 422, "input", "Complex-valued images are not supported."
    NOT_3D = "not_3d", 422, "input", "This image is 2D; a 3D brain scan is needed."
    TOO_MANY_DIMENSIONS = (
        "too_many_dimensions", 422, "input",
        "This image has too many dimensions; a 3D (or 4D) brain scan is needed.",
    )  # fmt: skip
    IMAGE_TOO_LARGE = "image_too_large", 422, "input", "This image is too large."
    IMAGE_TOO_SMALL = "image_too_small", 422, "input", "This image is too small to hold a brain."
    TOO_COARSE = "too_coarse", 422, "input", "The voxels are too coarse for a brain model."
    NON_FINITE = (
        "non_finite", 422, "input",
        "The volume contains NaN or infinite values; upload the original scan.",
    )  # fmt: skip
    EMPTY = "empty", 422, "input", "The volume is constant: there is no image in it."
    NO_STRUCTURE = (
        "no_structure", 422, "input",
        "The volume has no spatial structure (it looks like random noise), so it is not an MRI "
        "scan.",
    )  # fmt: skip
    NO_BRAIN = "no_brain", 422, "input", "No brain was found in this scan."
    INVALID_ZIP = "invalid_zip", 422, "input", "This .zip file is damaged or not a zip archive."
    ZIP_DAMAGED = "zip_damaged", 422, "input", "The zip is damaged and could not be unpacked."
    ZIP_TOO_MANY_FILES = "zip_too_many_files", 422, "input", "The zip holds too many files."
    ZIP_UNSAFE_PATH = (
        "zip_unsafe_path", 422, "input",
        "The zip contains a file path that points outside the archive; it was refused.",
    )  # fmt: skip
    ZIP_SYMLINK = "zip_symlink", 422, "input", "The zip contains a symbolic link; it was refused."
    ZIP_ENCRYPTED = "zip_encrypted", 422, "input", "The zip is password-protected."
    ZIP_TOO_LARGE = "zip_too_large", 422, "input", "The zip would expand to too much data."
    ZIP_BOMB = (
        "zip_bomb", 422, "input",
        "The zip is compressed far more than medical images can be (a zip bomb?).",
    )  # fmt: skip
    NO_DICOM = (
        "no_dicom", 422, "input",
        "The zip holds no DICOM image series that could be converted to a 3D volume.",
    )  # fmt: skip
    DICOM_UNCONVERTIBLE = (
        "dicom_unconvertible", 422, "input",
        "The DICOM files in the zip could not be converted to a 3D volume.",
    )  # fmt: skip

    # -- the service -----------------------------------------------------------------------------
    INTERNAL_ERROR = "internal_error", 500, "service", "Something went wrong on our side."
    PROCESSING_ERROR = "processing_error", 500, "service", "Processing failed."
    WORKER_CRASHED = (
        "worker_crashed", 500, "service",
        "The worker crashed while processing this scan; it was stopped to protect the service.",
    )  # fmt: skip
    TIMEOUT = (
        "timeout", 504, "service", "Processing took longer than the time limit and was stopped."
    )  # fmt: skip
    INPUT_MISSING = (
        "input_missing", 410, "service",
        "The uploaded file is no longer available; please upload it again.",
    )  # fmt: skip
    UNAVAILABLE = (
        "unavailable", 503, "service",
        "The job service is temporarily unavailable; please try again in a minute.",
    )  # fmt: skip
    STORAGE_UNAVAILABLE = (
        "storage_unavailable", 503, "service",
        "The file store is temporarily unavailable; please try again in a minute.",
    )  # fmt: skip
    INSUFFICIENT_STORAGE = (
        "insufficient_storage", 507, "service",
        "The server has no room for this upload right now; please try again later.",
    )  # fmt: skip

    # -- the page's own (no usable answer came back) ----------------------------------------------
    NETWORK_ERROR = "network_error", 0, "page", "The server could not be reached."
    BAD_RESPONSE = "bad_response", 0, "page", "The server's answer could not be read."
    ABORTED = "aborted", 0, "page", "Upload cancelled."

    @classmethod
    def for_http_status(cls, status: int) -> ErrorCode:
        """The code of an HTTP error nobody gave a code (Werkzeug's 404 and 405, the rate
        limiter's 429, ...)."""
        return _BY_STATUS.get(
            status, ErrorCode.INTERNAL_ERROR if status >= 500 else cls.BAD_REQUEST
        )


#: The code an HTTP status gets when nothing more specific was said.
_BY_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    410: ErrorCode.GONE,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_TYPE,
    422: ErrorCode.INVALID_INPUT,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR,
    503: ErrorCode.UNAVAILABLE,
    507: ErrorCode.INSUFFICIENT_STORAGE,
}
