"""The one error the pipeline raises on purpose: the input itself is unusable."""

from __future__ import annotations


class InputError(Exception):
    """The uploaded file cannot be turned into meshes; retrying will not help.

    ``message`` is one plain sentence a user can act on; ``code`` is a stable slug the API can
    map to a translation or a help page (for example ``"not_3d"`` or ``"zip_unsafe_path"``).
    """

    def __init__(self, message: str, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message
