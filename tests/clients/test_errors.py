"""Problem details map back to the project's exception classes."""

from __future__ import annotations

import json

import httpx
import pytest

import clients
from clients import _errors
from clients._errors import PROBLEM_TYPES, STATUS_FALLBACK, error_from_response
from runtime import errors as rt
from tests.conftest import free_port


def _problem(status: int, name: str | None, detail: str = "what to do", **extra) -> httpx.Response:
    body = {"title": name or "Error", "status": status, "detail": detail, **extra}
    if name is not None:
        body["type"] = f"/problems/{name}"
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/problem+json"},
        request=httpx.Request("GET", "http://registry.test/api/v1/models/x"),
    )


def test_every_runtime_error_class_has_a_mapping():
    exported = {
        name
        for name in rt.__all__
        if isinstance(getattr(rt, name), type) and issubclass(getattr(rt, name), rt.ModelportError)
    }
    assert exported - set(PROBLEM_TYPES) == set(), "add these classes to PROBLEM_TYPES"
    for name in exported:
        assert PROBLEM_TYPES[name].__name__ == name


def _server_problem_types() -> set[str]:
    """Every problem type name the API can answer with: the name of any error class of
    the server's packages (api/errors.py uses the class name), and the titles the API
    code writes itself."""
    import re
    from pathlib import Path

    import api.app  # noqa: F401  (loads the registry, converters and every route)
    from api import errors as api_errors

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(c) for c in found)) if found else found

    ours = ("runtime.", "registry.", "converters.", "api.")
    names = {c.__name__ for c in subclasses(rt.ModelportError) if c.__module__.startswith(ours)}
    names |= {"HTTPError", *api_errors._HTTP_TITLES.values()}
    root = Path(api_errors.__file__).parent
    titles = re.compile(r"\b(?:send_)?problem\(\s*(?:request|send),\s*\d+,\s*\"(\w+)\"")
    for source in root.rglob("*.py"):
        names |= set(titles.findall(source.read_text(encoding="utf-8")))
    return names


def test_every_problem_type_the_api_can_emit_is_decoded_on_purpose():
    emitted = _server_problem_types()
    # the scan sees what it should (else this test could not fail)
    assert {"ModelNotFound", "JobNotFound", "InvalidCursor", "RequestValidationError"} <= emitted
    assert {"RangeNotSatisfiable", "InternalError", "NotReady", "PayloadTooLarge"} <= emitted
    undecided = emitted - set(PROBLEM_TYPES) - _errors.BY_STATUS
    assert undecided == set(), "map these in runtime/_problems.py (PROBLEM_TYPES or BY_STATUS)"
    assert set(PROBLEM_TYPES).isdisjoint(_errors.BY_STATUS)


def test_every_error_class_is_reachable_from_some_answer():
    wanted = {
        getattr(rt, n)
        for n in rt.__all__
        if isinstance(getattr(rt, n), type) and issubclass(getattr(rt, n), rt.ModelportError)
    }
    names = [*PROBLEM_TYPES, *_errors.BY_STATUS, "SomethingNew", None]
    statuses = [400, 401, 403, 404, 409, 413, 415, 418, 422, 500, 502, 503]
    reached = {
        type(error_from_response(_problem(status, name))) for name in names for status in statuses
    }
    assert wanted - reached == set()
    assert reached <= wanted | {clients.RegistryError, clients.ResourceNotFound}


def test_by_status_names_follow_the_status(tmp_path):
    exc = error_from_response(_problem(422, "InvalidCursor"), default_422=rt.InvalidUpload)
    assert type(exc) is rt.InvalidUpload
    assert type(error_from_response(_problem(404, "JobNotFound"))) is clients.ResourceNotFound
    assert type(error_from_response(_problem(416, "RangeNotSatisfiable"))) is clients.RegistryError


@pytest.mark.parametrize("name", sorted(PROBLEM_TYPES))
def test_problem_type_selects_the_class(name):
    exc = error_from_response(_problem(400, name))
    assert type(exc) is PROBLEM_TYPES[name]
    assert exc.problem["type"] == f"/problems/{name}"
    assert exc.status == 400
    assert "what to do" in str(exc)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, clients.ResourceNotFound),
        (409, rt.Conflict),
        (413, rt.PayloadTooLarge),
        (415, rt.UnsupportedMediaType),
        (422, rt.InvalidModelRef),
        (503, rt.RegistryUnavailable),
        (500, clients.RegistryError),
        (401, rt.Unauthorized),
        (403, rt.Forbidden),
        (418, clients.RegistryError),
    ],
)
def test_unknown_problem_type_falls_back_on_status(status, expected):
    exc = error_from_response(_problem(status, "SomethingNew"))
    assert type(exc) is expected
    assert exc.problem["type"] == "/problems/SomethingNew"


def test_status_fallback_covers_the_documented_statuses():
    assert {404, 413, 415, 422} <= set(STATUS_FALLBACK)


def test_422_default_is_chosen_by_the_caller():
    exc = error_from_response(_problem(422, None), default_422=rt.InvalidUpload)
    assert type(exc) is rt.InvalidUpload


def test_validation_failed_keeps_the_report():
    exc = error_from_response(_problem(422, "ValidationFailed", report={"y": {"max_abs_diff": 1}}))
    assert isinstance(exc, rt.ValidationFailed)
    assert exc.report == {"y": {"max_abs_diff": 1}}


def test_a_non_json_error_body_still_maps():
    response = httpx.Response(
        502, content=b"<html>bad gateway</html>", request=httpx.Request("GET", "http://x/")
    )
    exc = error_from_response(response)
    assert isinstance(exc, rt.RegistryUnavailable)
    assert exc.problem["status"] == 502
    assert "bad gateway" in str(exc)


def test_connection_refused_is_registry_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    with clients.Registry(url) as reg, pytest.raises(rt.RegistryUnavailable) as info:
        reg.model("anything")
    assert url in str(info.value)
    assert "modelport serve" in str(info.value)


def test_exceptions_are_catchable_by_builtin_kind():
    assert issubclass(PROBLEM_TYPES["ModelNotFound"], LookupError)
    assert issubclass(_errors.WaitTimeout, TimeoutError)


@pytest.mark.parametrize("url", ["foo", "ftp://x", "http://[::1"])
def test_a_malformed_url_is_registry_unavailable(url):
    with clients.Registry(url) as reg, pytest.raises(rt.RegistryUnavailable, match="cannot reach"):
        reg.model("m")


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (rt.RegistryUnavailable, 3),
        (rt.ModelNotFound, 4),
        (rt.VersionNotFound, 4),
        (rt.AliasNotFound, 4),
        (rt.ArtifactNotFound, 4),
        (clients.ResourceNotFound, 4),
        (rt.InvalidModelRef, 5),
        (rt.InvalidUpload, 5),
        (rt.PayloadTooLarge, 5),
        (rt.UnsupportedMediaType, 5),
        (rt.IntegrityError, 6),
        (clients.WaitTimeout, 7),
        (rt.ConversionError, 1),
        (clients.RegistryError, 1),
    ],
)
def test_cli_exit_codes(cls, code):
    from clients.cli import exit_code

    assert exit_code(cls("x")) == code


def test_every_mapped_class_has_an_exit_code():
    from clients.cli import exit_code

    for cls in PROBLEM_TYPES.values():
        exc = rt.ValidationFailed("x") if cls is rt.ValidationFailed else cls("x")
        assert exit_code(exc) in {1, 3, 4, 5, 6, 7, 8}


@pytest.mark.parametrize("cls", [rt.Unauthorized, rt.Forbidden])
def test_token_refusals_exit_with_8(cls):
    from clients.cli import exit_code

    assert exit_code(cls("x")) == 8


def test_real_answers_decode_to_their_classes(reg, ready):
    """Error answers of a running registry, each decoded by the one map."""
    art = ready.info.artifact("onnx")
    fetcher = reg._fetcher
    cases = [
        (lambda: reg.show(f"{ready.name}:99"), rt.VersionNotFound, 404),
        (lambda: reg.job("0" * 32), clients.ResourceNotFound, 404),
        (lambda: fetcher.request("GET", "/api/v1/nowhere"), clients.ResourceNotFound, 404),
        (lambda: list(reg._pages("/api/v1/models", {"cursor": "x" * 40})), rt.InvalidModelRef, 422),
        (
            lambda: fetcher.request(
                "GET",
                f"/api/v1/models/{ready.name}/versions/1/artifacts/onnx?redirect=false",
                headers={"Range": f"bytes={art.size + 10}-"},
            ),
            clients.RegistryError,
            416,
        ),
    ]
    for call, cls, status in cases:
        with pytest.raises(rt.ModelportError) as info:
            call()
        assert type(info.value) is cls, info.value
        assert info.value.status == status
        problem = info.value.problem
        assert problem is not None and problem["status"] == status
        name = str(problem["type"]).removeprefix("/problems/")
        assert name in PROBLEM_TYPES or name in _errors.BY_STATUS, name
