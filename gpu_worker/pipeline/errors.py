"""The one error the pipeline raises on purpose: the input itself is unusable."""

from __future__ import annotations

from mrimesh.errors import ErrorCode


class InputError(Exception):
    """The uploaded file cannot be turned into meshes; retrying will not help.

    ``message`` is one plain sentence a user can act on (the code's own words when omitted);
    ``code`` is a member of the registry, :class:`mrimesh.errors.ErrorCode` (its slug, such as
    ``"not_3d"``, is accepted too; one the registry lacks raises ``ValueError``).
    """

    def __init__(
        self, message: str | None = None, code: ErrorCode | str = ErrorCode.INVALID_INPUT
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message or self.code.message
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message
