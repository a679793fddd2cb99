"""Bad input on every endpoint: a 4xx problem+json that says what to do, never a 500."""

from __future__ import annotations

import pickle
import uuid

import pytest

from tests.api.conftest import assert_problem, upload, wait_done
from tests.factories.onnx_models import linear_model


@pytest.fixture(scope="module")
def pushed(live_registry, tmp_path_factory) -> str:
    """One model with one version, shared by this module's tests (they only read it)."""
    name = f"bad-input-{uuid.uuid4().hex[:8]}"
    path = linear_model(tmp_path_factory.mktemp("pushed") / "lin.onnx")
    with live_registry.client() as client:
        assert upload(client, name, path).status_code == 202
    return name


BAD_NAMES = ["-leading-dash", "a" * 129, "sp ace", "semi;colon", "_under", "st*r", "ünïcode"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_upload_with_bad_name_is_422(registry_client, onnx_file, name):
    body = assert_problem(upload(registry_client, name, onnx_file), 422, "InvalidModelRef")
    assert "invalid model name" in body["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/-x",
        "/api/v1/models/-x/versions",
        "/api/v1/models/-x/versions/1",
        "/api/v1/models/-x/versions/1/artifacts/onnx",
    ],
)
def test_reads_with_bad_name_are_422(registry_client, path):
    assert_problem(registry_client.get(path), 422, "InvalidModelRef")


def test_not_a_model_file_is_422(registry_client, unique_name, tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"this is not a protobuf")
    body = assert_problem(upload(registry_client, unique_name, junk), 422, "InvalidUpload")
    assert "ONNX" in body["detail"]
    assert_problem(registry_client.get(f"/api/v1/models/{unique_name}"), 404, "ModelNotFound")


def test_pickle_is_415_when_pickles_are_off(registry_client, unique_name, tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    body = assert_problem(upload(registry_client, unique_name, path), 415, "UnsupportedMediaType")
    assert "skops" in body["detail"]


def test_missing_file_field_is_422(registry_client, unique_name):
    resp = registry_client.post(f"/api/v1/models/{unique_name}/versions", data={"description": "x"})
    body = assert_problem(resp, 422, "RequestValidationError")
    assert any(e["loc"][-1] == "file" for e in body["errors"])


def test_json_instead_of_multipart_is_422(registry_client, unique_name):
    resp = registry_client.post(f"/api/v1/models/{unique_name}/versions", json={"file": "x"})
    assert_problem(resp, 422)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"tags": "{not json"}, "tags is not valid JSON"),
        ({"tags": "[1, 2]"}, "JSON object of strings"),
        ({"tags": '{"a": 1}'}, "JSON object of strings"),
        ({"atol": "tiny"}, "atol must be a number"),
        ({"rtol": "-1"}, "rtol must be a finite number"),
        ({"framework": "sklearn"}, "declared as framework"),
        ({"framework": "cobol"}, "framework"),
        ({"targets": "pmml"}, "pmml"),
    ],
)
def test_bad_form_fields_are_422(registry_client, unique_name, onnx_file, fields, needle):
    body = assert_problem(upload(registry_client, unique_name, onnx_file, **fields), 422)
    assert needle in body["detail"]
    assert registry_client.get(f"/api/v1/models/{unique_name}").status_code == 404


def test_bad_sample_is_422(registry_client, unique_name, onnx_file):
    resp = upload(registry_client, unique_name, onnx_file, sample=("x.csv", b"1,2", "text/csv"))
    assert "npy" in assert_problem(resp, 422, "InvalidUpload")["detail"]


@pytest.mark.parametrize(
    ("suffix", "title"),
    [
        ("", "ModelNotFound"),
        ("/versions", "ModelNotFound"),
        ("/versions/1", "ModelNotFound"),
        ("/versions/latest/artifacts/onnx", "ModelNotFound"),
    ],
)
def test_unknown_model_is_404(registry_client, unique_name, suffix, title):
    assert_problem(registry_client.get(f"/api/v1/models/{unique_name}{suffix}"), 404, title)


@pytest.mark.parametrize(
    ("ref", "status", "title"),
    [
        ("99", 404, "VersionNotFound"),
        ("nosuchalias", 404, "AliasNotFound"),
        ("0", 404, "VersionNotFound"),
        ("9" * 30, 404, "VersionNotFound"),
        (str(2**31), 404, "VersionNotFound"),
        ("0" * 20 + "99", 404, "VersionNotFound"),
        ("9" * 5000, 404, "VersionNotFound"),  # past int()'s 4300-digit limit
        ("-3", 422, "InvalidModelRef"),
        ("\u00b2", 422, "InvalidModelRef"),  # a digit to isdigit(), but not to int()
    ],
)
def test_unknown_version_or_alias(registry_client, pushed, ref, status, title):
    assert_problem(registry_client.get(f"/api/v1/models/{pushed}/versions/{ref}"), status, title)
    artifact = registry_client.get(f"/api/v1/models/{pushed}/versions/{ref}/artifacts/source")
    assert_problem(artifact, status, title)


def test_leading_zeros_name_the_same_version(registry_client, pushed):
    resp = registry_client.get(f"/api/v1/models/{pushed}/versions/{'0' * 30}1")
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 1


@pytest.mark.parametrize("ref", ["9" * 5000, "\u00b2"])
def test_unusable_version_numbers_are_html_404_pages(registry_client, pushed, ref):
    for url in (
        f"/models/{pushed}/versions/{ref}",
        f"/models/{pushed}/versions/{ref}/fragment",
        f"/models/{pushed}/compare?a=1&b={ref}",
    ):
        response = registry_client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html"), url


def test_unknown_or_unavailable_artifact_is_404(registry_client, pushed):
    base = f"/api/v1/models/{pushed}/versions/1/artifacts"
    assert (
        "format"
        in assert_problem(registry_client.get(f"{base}/zip"), 404, "ArtifactNotFound")["detail"]
    )
    wait_done(registry_client, pushed, 1)
    assert_problem(registry_client.get(f"{base}/pmml"), 404, "ArtifactNotFound")


@pytest.mark.parametrize("alias", ["latest", "LATEST", "3", "-x", "a" * 65])
def test_bad_alias_is_422(registry_client, pushed, alias):
    resp = registry_client.put(f"/api/v1/models/{pushed}/aliases/{alias}", json={"version": 1})
    assert_problem(resp, 422, "InvalidModelRef")
    assert_problem(registry_client.delete(f"/api/v1/models/{pushed}/aliases/{alias}"), 422)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"version": 7}, 404),
        ({"version": 0}, 422),
        ({"version": 2**31}, 422),
        ({"version": 10**30}, 422),
        ({"version": "one"}, 422),
        ({}, 422),
        ({"version": 1, "extra": True}, 422),
    ],
)
def test_bad_alias_body(registry_client, pushed, body, status):
    assert_problem(registry_client.put(f"/api/v1/models/{pushed}/aliases/prod", json=body), status)


def test_alias_body_not_json_is_422(registry_client, pushed):
    resp = registry_client.put(
        f"/api/v1/models/{pushed}/aliases/prod",
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert_problem(resp, 422, "RequestValidationError")


def test_deleting_a_missing_alias_is_404(registry_client, pushed):
    assert_problem(
        registry_client.delete(f"/api/v1/models/{pushed}/aliases/prod"), 404, "AliasNotFound"
    )
    assert_problem(registry_client.delete("/api/v1/models/no-such-model-xyz/aliases/prod"), 404)


def test_unknown_job_is_404(registry_client):
    assert_problem(registry_client.get("/api/v1/jobs/deadbeef"), 404, "JobNotFound")


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1000}, {"limit": "x"}, {"cursor": "not-a-cursor"}, {"q": "x" * 300}],
)
def test_bad_list_parameters_are_422(registry_client, params):
    assert_problem(registry_client.get("/api/v1/models", params=params), 422)


def test_bad_versions_cursor_is_422(registry_client, pushed):
    resp = registry_client.get(f"/api/v1/models/{pushed}/versions", params={"cursor": "eyJ4IjoxfQ"})
    assert "cursor" in assert_problem(resp, 422)["detail"]


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=-0", f"bytes={'9' * 5000}-"])
def test_unsatisfiable_range_is_416(registry_client, pushed, header):
    url = f"/api/v1/models/{pushed}/versions/1/artifacts/source?redirect=false"
    resp = registry_client.get(url, headers={"Range": header})
    assert_problem(resp, 416, "RangeNotSatisfiable")
    assert resp.headers["content-range"].startswith("bytes */")


@pytest.mark.parametrize("header", ["bytes=5-2", "items=0-1", "bytes=0-1,4-5", "garbage"])
def test_malformed_range_is_ignored(registry_client, pushed, onnx_file, header):
    url = f"/api/v1/models/{pushed}/versions/1/artifacts/source?redirect=false"
    resp = registry_client.get(url, headers={"Range": header})
    assert resp.status_code == 200 and resp.content == onnx_file.read_bytes()


def test_unknown_route_and_wrong_method_are_problems(registry_client):
    assert_problem(registry_client.get("/api/v1/nothing-here"), 404, "NotFound")
    assert_problem(registry_client.delete("/api/v1/models"), 405, "MethodNotAllowed")


def test_openapi_documents_errors_as_problem_json(registry_client, unique_name):
    """The document declares what the handlers send: problem+json, not FastAPI's default."""
    spec = registry_client.get("/openapi.json").json()
    problem_schema = spec["components"]["schemas"]["Problem"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    errors = [
        (path, method, code, response)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        for code, response in op["responses"].items()
        if code.startswith(("4", "5"))
    ]
    assert errors
    for path, method, code, response in errors:
        assert list(response["content"]) == ["application/problem+json"], (path, method, code)
    body = assert_problem(registry_client.get("/api/v1/models/-x"), 422, "InvalidModelRef")
    assert set(problem_schema["required"]) <= set(body)


def test_openapi_admits_the_artifact_media_type(registry_client, pushed):
    """Downloads carry the artifact's own media type; the document must not pin another."""
    wait_done(registry_client, pushed, 1)
    url = f"/api/v1/models/{pushed}/versions/1/artifacts/onnx"
    resp = registry_client.get(url, params={"redirect": "false"})
    assert resp.status_code == 200
    served = resp.headers["content-type"].split(";")[0]
    assert served == "application/onnx"
    spec = registry_client.get("/openapi.json").json()
    download = spec["paths"]["/api/v1/models/{name}/versions/{ref}/artifacts/{format}"]["get"]
    for code in ("200", "206"):
        declared = set(download["responses"][code]["content"])
        assert declared & {served, "*/*", "application/*"}, (code, declared)


@pytest.mark.parametrize("targets", [",", " , "])
def test_blank_targets_field_means_every_applicable_target(
    registry_client, unique_name, onnx_file, targets
):
    resp = upload(registry_client, unique_name, onnx_file, targets=targets)
    assert resp.status_code == 202, resp.text
    version = registry_client.get(f"/api/v1/models/{unique_name}/versions/1").json()
    assert version["targets"] == ["onnx"]


def test_range_past_the_int_digit_limit_is_served_not_500(registry_client, pushed, onnx_file):
    url = f"/api/v1/models/{pushed}/versions/1/artifacts/source?redirect=false"
    resp = registry_client.get(url, headers={"Range": f"bytes=0-{'9' * 5000}"})
    assert resp.status_code == 206 and resp.content == onnx_file.read_bytes()


@pytest.mark.parametrize("limit", ["\u00b2", "9" * 5000, "abc", "500"])
def test_unusable_models_page_limit_is_an_html_400(registry_client, limit):
    response = registry_client.get("/", params={"limit": limit})
    assert response.status_code == 400, response.text[:200]
    assert response.headers["content-type"].startswith("text/html")


def test_estimator_without_inference_is_422_at_upload(registry_client, unique_name, tmp_path):
    import numpy as np
    import skops.io as sio
    from sklearn.cluster import SpectralClustering

    x = np.random.default_rng(0).standard_normal((30, 3))
    path = tmp_path / "spectral.skops"
    sio.dump(SpectralClustering(2, random_state=0).fit(x), path)
    body = assert_problem(upload(registry_client, unique_name, path), 422, "InvalidUpload")
    assert "SpectralClustering" in body["detail"] and "fit_predict" in body["detail"]
    # refused before a version exists
    assert registry_client.get(f"/api/v1/models/{unique_name}/versions/1").status_code == 404
