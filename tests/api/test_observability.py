"""/metrics in the Prometheus text format and request ids, on a live server.

The exposition is parsed with prometheus-client's own parser; series are checked by
name and labels after a real upload and conversion (inline runner)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import upload, wait_done
from tests.factories.onnx_models import linear_model


def _samples(client) -> dict[tuple[str, frozenset], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def test_metrics_count_requests_conversions_and_bytes(registry_client, unique_name, tmp_path):
    before = _samples(registry_client)
    model = linear_model(tmp_path / "lin.onnx")
    assert upload(registry_client, unique_name, model, targets="onnx").status_code == 202
    assert wait_done(registry_client, unique_name, 1)["status"] == "ready"
    art = registry_client.get(f"/api/v1/models/{unique_name}/versions/1/artifacts/onnx")
    assert art.status_code in (200, 307)
    after = _samples(registry_client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    route = "/api/v1/models/{name}/versions"
    assert grew("modelport_http_request_duration_seconds_count", route=route, status="202") == 1
    assert (
        grew("modelport_conversions_total", framework="onnx", target="onnx", outcome="passed") == 1
    )
    assert grew("modelport_validations_total", target="onnx", outcome="passed") == 1
    assert grew("modelport_job_duration_seconds_count", framework="onnx") == 1
    assert grew("modelport_blob_bytes_total", direction="in") >= model.stat().st_size
    assert (
        "modelport_queue_depth",
        frozenset({("queue", "sklearn"), ("status", "queued")}),
    ) in after
    # Concrete paths never become label values.
    assert not [k for k in after if unique_name in str(k)]


def test_request_ids_are_echoed_or_made(registry_client):
    given = registry_client.get("/readyz", headers={"X-Request-ID": "trace-42.a"})
    assert given.headers["x-request-id"] == "trace-42.a"
    made = registry_client.get("/readyz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id\twith spaces")
    assert len(made.headers["x-request-id"]) == 32
