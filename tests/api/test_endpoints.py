"""Every endpoint's happy path over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io

import numpy as np

from tests.api.conftest import upload, wait_done


def test_upload_returns_202_with_location_and_job(registry_client, unique_name, onnx_file):
    resp = upload(
        registry_client,
        unique_name,
        onnx_file,
        description="a linear model",
        tags='{"team": "risk"}',
        created_by="alice",
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["name"] == unique_name and body["version"] == 1 and body["status"] == "pending"
    assert resp.headers["location"] == f"/api/v1/models/{unique_name}/versions/1"
    version = wait_done(registry_client, unique_name, 1)
    assert version["status"] == "ready", version
    assert version["description"] == "a linear model" and version["tags"] == {"team": "risk"}
    assert version["created_by"] == "alice" and version["job_id"] == body["job_id"]
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert version["source"] == {
        "filename": "lin.onnx",
        "sha256": digest,
        "size": onnx_file.stat().st_size,
    }
    formats = {a["format"]: a for a in version["artifacts"]}
    assert formats["onnx"]["status"] == "passed" and formats["onnx"]["validation"]
    assert version["signature"]["inputs"][0]["shape"] == ["batch", 4]

    job = registry_client.get(f"/api/v1/jobs/{body['job_id']}").json()
    assert job["status"] == "succeeded" and job["name"] == unique_name and job["version"] == 1
    assert job["kind"] == "convert" and job["attempts"] == 1 and job["finished_at"]


def test_upload_with_sample_and_tolerance(registry_client, unique_name, onnx_file):
    buf = io.BytesIO()
    np.save(buf, np.ones((3, 4), dtype=np.float32))
    resp = upload(
        registry_client,
        unique_name,
        onnx_file,
        sample=("x.npy", buf.getvalue(), "application/octet-stream"),
        atol="1e-5",
        rtol="1e-4",
        framework="onnx",
        targets="onnx",
    )
    assert resp.status_code == 202, resp.text
    version = wait_done(registry_client, unique_name, 1)
    assert version["status"] == "ready", version
    assert version["lineage"]["sample"]["origin"].startswith("uploaded")


def test_model_listing_search_and_pagination(registry_client, unique_name, onnx_file):
    names = [f"{unique_name}-{i}" for i in range(3)]
    for n in names:
        assert upload(registry_client, n, onnx_file).status_code == 202
    upload(registry_client, names[0], onnx_file)
    seen, cursor = [], None
    while True:
        params = {"q": unique_name, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = registry_client.get("/api/v1/models", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [m["name"] for m in seen] == names
    assert seen[0]["latest_version"] == 2 and seen[0]["version_count"] == 2
    model = registry_client.get(f"/api/v1/models/{names[0]}").json()
    assert set(model) == {
        "name",
        "description",
        "tags",
        "created_at",
        "updated_at",
        "latest_version",
        "version_count",
        "aliases",
        "alias_weights",
    }


def test_versions_list_newest_first(registry_client, unique_name, onnx_file):
    for _ in range(3):
        upload(registry_client, unique_name, onnx_file)
    page = registry_client.get(f"/api/v1/models/{unique_name}/versions", params={"limit": 2}).json()
    assert [v["version"] for v in page["items"]] == [3, 2]
    rest = registry_client.get(
        f"/api/v1/models/{unique_name}/versions", params={"cursor": page["next_cursor"]}
    ).json()
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None


def test_aliases_set_move_resolve_and_delete(registry_client, unique_name, onnx_file):
    for _ in range(2):
        upload(registry_client, unique_name, onnx_file)
    base = f"/api/v1/models/{unique_name}"
    resp = registry_client.put(f"{base}/aliases/prod", json={"version": 1})
    assert resp.status_code == 200
    body = resp.json()
    assert {k: body[k] for k in ("name", "alias", "version")} == {
        "name": unique_name,
        "alias": "prod",
        "version": 1,
    }
    assert body["weights"] == {"1": 100}  # a plain alias is the split {N: 100}
    assert registry_client.get(f"{base}/versions/prod").json()["version"] == 1
    registry_client.put(f"{base}/aliases/prod", json={"version": 2})
    assert registry_client.get(f"{base}/versions/prod").json()["aliases"] == ["prod"]
    assert registry_client.get(base).json()["aliases"] == {"prod": 2}
    assert registry_client.get(f"{base}/versions/latest").json()["version"] == 2
    assert registry_client.delete(f"{base}/aliases/prod").status_code == 204
    assert registry_client.get(f"{base}/versions/prod").status_code == 404


def test_artifact_download_with_etag_and_ranges(registry_client, unique_name, onnx_file):
    upload(registry_client, unique_name, onnx_file)
    wait_done(registry_client, unique_name, 1)
    data = onnx_file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # the API's own streaming (an S3 store would redirect without redirect=false)
    url = f"/api/v1/models/{unique_name}/versions/1/artifacts/onnx?redirect=false"
    resp = registry_client.get(url)
    assert resp.status_code == 200 and resp.content == data
    assert resp.headers["etag"] == f'"{digest}"'
    assert resp.headers["x-modelport-sha256"] == digest
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["accept-ranges"] == "bytes"
    assert resp.headers["content-disposition"] == f'attachment; filename="{unique_name}-1.onnx"'

    part = registry_client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert part.headers["content-length"] == "10"
    tail = registry_client.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    open_end = registry_client.get(url, headers={"Range": f"bytes={len(data) - 3}-"})
    assert open_end.content == data[-3:]
    assert registry_client.get(url, headers={"If-None-Match": f'"{digest}"'}).status_code == 304
    stale = registry_client.get(url, headers={"Range": "bytes=0-3", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data

    source = registry_client.get(
        f"/api/v1/models/{unique_name}/versions/latest/artifacts/source",
        params={"redirect": "false"},
    )
    assert source.content == data
    assert source.headers["content-disposition"] == 'attachment; filename="lin.onnx"'


def test_health_and_readiness(registry_client):
    assert registry_client.get("/healthz").json() == {"status": "ok"}
    assert registry_client.get("/readyz").json() == {"status": "ready"}


def test_openapi_documents_the_endpoints(registry_client):
    spec = registry_client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/models",
        "/api/v1/models/{name}",
        "/api/v1/models/{name}/versions",
        "/api/v1/models/{name}/versions/{ref}",
        "/api/v1/models/{name}/versions/{ref}/artifacts/{format}",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/jobs/{job_id}",
        "/healthz",
        "/readyz",
    } <= paths
    assert registry_client.get("/docs").status_code == 200


def test_openapi_path_parameters_carry_the_grammar_and_their_404(registry_client):
    import re

    spec = registry_client.get("/openapi.json").json()
    alias_put = spec["paths"]["/api/v1/models/{name}/aliases/{alias}"]["put"]
    params = {p["name"]: p["schema"] for p in alias_put["parameters"]}
    name_re, alias_re = params["name"]["pattern"], params["alias"]["pattern"]
    assert re.fullmatch(name_re, "fraud-clf.v2") and not re.fullmatch(name_re, "-x")
    assert re.fullmatch(alias_re, "production") and not re.fullmatch(alias_re, "9lives")
    assert (params["name"]["maxLength"], params["alias"]["maxLength"]) == (128, 64)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "{" in path and path.startswith("/api/"):
                not_found = op["responses"].get("404")
                assert not_found, f"{method.upper()} {path} does not declare its 404"
                assert "application/problem+json" in not_found["content"]
    # what the document says is what the server does
    bad = registry_client.put("/api/v1/models/-x/aliases/prod", json={"version": 1})
    assert bad.status_code == 422
    missing = registry_client.get("/api/v1/models/no-such-model-here/versions/1")
    assert missing.status_code == 404


def test_failed_deep_check_gives_a_failed_version_with_the_reason(
    registry_client, unique_name, tmp_path
):
    from tests.registry.test_jobs import broken_onnx

    path = broken_onnx(tmp_path / "broken.onnx")
    resp = upload(registry_client, unique_name, path)
    assert resp.status_code == 202, resp.text  # parses as ONNX: the cheap check passes
    version = wait_done(registry_client, unique_name, 1)
    assert version["status"] == "failed"
    assert "NoSuchOperator" in version["error"]
    job = registry_client.get(f"/api/v1/jobs/{resp.json()['job_id']}").json()
    assert job["status"] == "failed" and job["error"] == version["error"]
    latest = registry_client.get(f"/api/v1/models/{unique_name}/versions/latest/artifacts/onnx")
    assert latest.status_code == 404
