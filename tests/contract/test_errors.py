"""One registry of error codes: the API, the loader, the page and the operators' table agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.input_check import InputRejected
from gpu_worker.pipeline.errors import InputError
from mrimesh.errors import Cause, ErrorCode
from mrimesh.limits import shape_problem
from mrimesh.zip_safety import ZipRefusedError

ROOT = Path(__file__).resolve().parents[2]


def _operations_table() -> dict[str, tuple[int, str]]:
    """``code -> (HTTP status, cause)`` from the table under "## Error codes"."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([a-z0-9_]+)` \| ([0-9]+|–) \| ([a-z]+) \|", line)
        if match:
            code, status, cause = match.groups()
            rows[code] = (0 if status == "–" else int(status), cause)
    return rows


def test_the_operations_table_lists_exactly_the_registry() -> None:
    table = _operations_table()
    assert table == {c.value: (c.http_status, c.cause.value) for c in ErrorCode}


def _page_codes() -> set[str]:
    """Every error code literal the page's scripts compare with or raise."""
    found: set[str] = set()
    pattern = re.compile(r"""code\s*(?:===|!==|==|!=|:|=)\s*['"]([a-z0-9_]+)['"]""")
    for script in (ROOT / "web" / "js").rglob("*.js"):
        if "vendor" in script.parts:
            continue
        text = re.sub(r"typeof\s+[\w.]+", "", script.read_text())  # a type test, not a code
        found |= set(pattern.findall(text))
    return found


def test_every_code_the_page_knows_is_in_the_registry() -> None:
    codes = _page_codes()
    assert {"already_finished", "aborted", "network_error"} <= codes  # the scan finds them
    assert codes <= {c.value for c in ErrorCode}


def _python_code_literals() -> set[str]:
    """Slugs passed as ``code="..."`` anywhere in the service's Python."""
    found: set[str] = set()
    for package in ("api", "gpu_worker", "mrimesh"):
        for source in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r"""\bcode=['"]([a-z0-9_]+)['"]""", source.read_text()))
    return found


def test_every_code_written_as_text_in_the_service_is_in_the_registry() -> None:
    assert _python_code_literals() <= {c.value for c in ErrorCode}
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    assert set(re.findall(r'"code": "([a-z0-9_]+)"', nginx)) <= {c.value for c in ErrorCode}


def test_no_code_is_invented_at_a_raise_site() -> None:
    for make in (
        lambda: InputError("Bad scan.", code="not_in_the_registry"),
        lambda: InputRejected("Bad upload.", "not_in_the_registry"),
        lambda: ZipRefusedError("Bad zip.", code="not_in_the_registry"),
    ):
        with pytest.raises(ValueError):
            make()


def test_raise_sites_carry_the_registry_code_and_its_words() -> None:
    error = InputError(code="no_brain")
    assert error.code is ErrorCode.NO_BRAIN
    assert error.message == ErrorCode.NO_BRAIN.message
    problem = shape_problem((64, 64, 1), __import__("numpy").dtype("float32"))
    assert problem.code is ErrorCode.NOT_3D
    assert ErrorCode.NO_BRAIN.http_status == 422 and ErrorCode.NO_BRAIN.cause is Cause.INPUT


def test_every_code_has_a_status_a_cause_and_words() -> None:
    for code in ErrorCode:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code.value)
        assert code.message and code.message[0].isupper() and code.message.endswith((".", "?"))
        assert (code.http_status == 0) == (code.cause is Cause.PAGE)
        assert code.http_status == 0 or 400 <= code.http_status < 600


def test_the_api_answers_with_the_registry_status_and_words(client) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == ErrorCode.NOT_FOUND.http_status
    assert response.get_json() == {"error": "Not found.", "code": "not_found"}
    response = client.put("/upload")
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
    response = client.post("/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json() == {"error": ErrorCode.NO_FILE.message, "code": "no_file"}
