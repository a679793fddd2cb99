"""Property-based fuzzing of the registry's OpenAPI document against a live server.

Schemathesis reads ``/openapi.json`` from a real uvicorn process (SQLite backend: the
checks concern the HTTP layer, which both backends share) and sends up to
``MAX_EXAMPLES`` generated requests to every operation, valid and invalid alike.
Every response must pass:

* ``not_a_server_error`` -- no 5xx, whatever the input;
* ``content_type_conformance`` -- the media type is the one the document declares;
* ``response_schema_conformance`` -- a documented status's body matches its schema;
* ``problem_json_for_4xx`` (below) -- every 4xx is an RFC 9457 problem+json body.

A third pass pins the path to a model that exists (``name``, ``ref=1`` and
``format=onnx`` of one ready ONNX version), so aliases, query parameters, request
bodies and ``Range`` headers are fuzzed past the lookups too.

The Python API (``operation.as_strategy`` under ``@given``) is used instead of
``schemathesis.pytest.from_fixture``: the lazy loader reads pytest's private
``Function._nodeid``, which pytest 9.2 no longer has.

No operation is excluded: the health probes, uploads (multipart with random bytes),
artifact downloads with random ``Range`` headers, aliases and jobs are all fuzzed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.conftest import upload, wait_done
from tests.conftest import LiveRegistry, start_registry, stop_registry
from tests.factories.onnx_models import linear_model

MAX_EXAMPLES = 25

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRegistry]:
    tmp = tmp_path_factory.mktemp("fuzz-registry")
    reg = start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}")
    try:
        yield reg
    finally:
        stop_registry(reg)


def problem_json_for_4xx(ctx, response, case) -> bool | None:
    """A 4xx must carry an RFC 9457 problem document."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} with content-type {content_type!r}, "
        "expected application/problem+json"
    )
    body = response.json()
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"problem document lacks {sorted(missing)}: {body}"
    assert body["status"] == response.status_code, body
    return True


CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    problem_json_for_4xx,
]


@pytest.fixture(scope="module")
def existing_model(fuzz_registry: LiveRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    name = "fuzz-existing"
    path = linear_model(tmp_path_factory.mktemp("fuzz-model") / "lin.onnx")
    with fuzz_registry.client() as client:
        assert upload(client, name, path).status_code == 202
        assert wait_done(client, name, 1)["status"] == "ready"
    return name


@pytest.mark.parametrize(
    ("mode", "pin_name"),
    [
        (GenerationMode.POSITIVE, False),
        (GenerationMode.NEGATIVE, False),
        (GenerationMode.POSITIVE, True),
    ],
    ids=["positive", "negative", "existing-model"],
)
def test_no_request_yields_a_server_error(
    fuzz_registry: LiveRegistry, existing_model: str, mode: GenerationMode, pin_name: bool
) -> None:
    """Every operation, schema-valid (positive) and schema-violating (negative) input.

    Each operation gets its own Hypothesis run, so one failing operation does not hide
    another; all failures are reported together.
    """
    schema = schemathesis.openapi.from_url(f"{fuzz_registry.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11, [op.label for op in operations]
    failures: dict[str, str] = {}
    skipped: list[str] = []
    for operation in operations:
        names = [p.name for p in operation.path_parameters]
        if pin_name and "name" not in names:
            continue
        known = {"name": existing_model, "ref": "1", "format": "onnx"}
        pinned = {k: v for k, v in known.items() if k in names} if pin_name else None

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=pinned))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        def run(case) -> None:
            case.call_and_validate(base_url=fuzz_registry.url, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # Negative mode only: an operation whose inputs are all unconstrained
            # strings (or that takes none) has no schema-violating request to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
            skipped.append(operation.label)
        except Exception as exc:  # collected and reported below, per operation
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert not failures, "\n\n".join(f"{op}:\n{msg}" for op, msg in failures.items())
    assert len(skipped) < len(operations), "nothing was fuzzed"


def test_server_log_has_no_tracebacks(fuzz_registry: LiveRegistry) -> None:
    """Runs after the fuzzing: an exception swallowed into a 4xx still shows up here."""
    log = fuzz_registry.log()
    assert "Traceback" not in log, log[-4000:]
