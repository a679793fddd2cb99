"""Every Kubernetes manifest under deploy/k8s is checked offline against its schema.

Built-in kinds: ``kubernetes-validate`` (the API server's own OpenAPI schemas, strict:
unknown fields fail). KEDA's ScaledObject / TriggerAuthentication: the models of the
``cloudcoil.models.keda`` package, generated from KEDA's CRDs; a manifest must survive
a round trip through them unchanged, so a misspelt field (which pydantic would drop)
fails too. Then the parts are checked against each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from registry import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.33.0"
QUEUES = {"sklearn", "torch", "tensorflow"}
#: Settings of the Celery conversion tier (read by `modelport worker` and `serve`).
CELERY_SETTINGS = {"MODELPORT_WORKERS", "MODELPORT_BROKER_URL"}
OTHER_ENV = {
    "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "RABBITMQ_MANAGEMENT_URL",  # read by KEDA's RabbitMQ scaler, not by modelport
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


DOCS = _documents()


def _kind(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _keda_model(kind: str) -> Any:
    from cloudcoil.models.keda import v1alpha1

    return {"ScaledObject": v1alpha1.ScaledObject,
            "TriggerAuthentication": v1alpha1.TriggerAuthentication}[kind]


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


@pytest.mark.parametrize(("source", "doc"), DOCS, ids=[f"{f}:{_kind(d)}" for f, d in DOCS])
def test_manifest_matches_its_schema(source, doc):
    if doc["apiVersion"].startswith("keda.sh/"):
        model = _keda_model(doc["kind"]).model_validate(doc)
        again = _prune(model.model_dump(by_alias=True, exclude_none=True, mode="json"))
        assert again == _prune(doc), f"{source}: fields KEDA's schema does not know"
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_misspelt_field_is_caught():
    deployment = next(d for _, d in DOCS if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    scaled = next(d for _, d in DOCS if d["kind"] == "ScaledObject")
    broken = yaml.safe_load(yaml.safe_dump(scaled))
    broken["spec"]["minReplicas"] = broken["spec"].pop("minReplicaCount")
    model = _keda_model("ScaledObject").model_validate(broken)
    assert _prune(model.model_dump(by_alias=True, exclude_none=True, mode="json")) != broken


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (_kind(d), d["spec"]["template"]["spec"])
        for _, d in DOCS
        if d["kind"] in ("Deployment", "Job")
    ]


def test_every_pod_runs_as_non_root_with_resource_requests():
    for name, pod in _pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["resources"]["requests"].keys() >= {"cpu", "memory"}, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_api_probes_health_and_readiness():
    api = next(d for _, d in DOCS if _kind(d) == "Deployment/modelport-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = next(d for _, d in DOCS if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "modelport-api"
    service = next(d for _, d in DOCS if d["kind"] == "Service")
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]


def test_each_queue_has_a_worker_and_a_scaler_on_that_queue():
    workers = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["command"]
        for _, d in DOCS
        if d["kind"] == "Deployment" and "worker" in d["metadata"]["name"]
    }
    served = {}
    for name, command in workers.items():
        assert command[:3] == ["modelport", "worker", "--queues"], command
        served[name] = command[3]
    assert set(served.values()) == QUEUES
    scalers = [d for _, d in DOCS if d["kind"] == "ScaledObject"]
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scalers} == set(workers)
    for scaler in scalers:
        trigger = scaler["spec"]["triggers"][0]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == served[scaler["spec"]["scaleTargetRef"]["name"]]


def test_configuration_names_only_settings_that_exist():
    known = {f"MODELPORT_{name.upper()}" for name in Settings.model_fields}
    known |= CELERY_SETTINGS | OTHER_ENV
    for _, doc in DOCS:
        if doc["kind"] in ("ConfigMap", "Secret"):
            keys = set(doc.get("data", {})) | set(doc.get("stringData", {}))
            assert keys <= known, keys - known
    migrate = next(d for _, d in DOCS if d["kind"] == "Job")
    assert migrate["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "modelport", "db", "upgrade"
    ]
