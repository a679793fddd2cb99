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
    for name, cls in PROBLEM_TYPES.items():
        assert cls.__name__ == name


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
