"""Version documents: ETags, conditional requests, cache policy and in-memory reuse."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from api._doc_cache import VersionDocs, etag_matches
from api.schemas import VersionOut
from registry import ModelVersion, SourceFile
from runtime import JobDoc, VersionDoc
from tests.api.conftest import upload, wait_done


def test_ready_version_has_an_etag_and_answers_304(registry_client, unique_name, onnx_file):
    assert upload(registry_client, unique_name, onnx_file).status_code == 202
    pending = registry_client.get(f"/api/v1/models/{unique_name}/versions/1")
    assert pending.headers["cache-control"] == "no-cache" or pending.json()["status"] == "ready"
    wait_done(registry_client, unique_name, 1)
    url = f"/api/v1/models/{unique_name}/versions/1"
    first = registry_client.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = first.headers["etag"]
    assert VersionOut.model_validate(first.json()).status == "ready"
    again = registry_client.get(url)
    assert again.content == first.content and again.headers["etag"] == etag
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cond = registry_client.get(url, headers={"If-None-Match": header})
        assert cond.status_code == 304, header
        assert cond.content == b""
        assert cond.headers["etag"] == etag
    assert registry_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_served_documents_are_the_runtime_types(registry_client, unique_name, onnx_file):
    # a ready version carries a signature and a typed validation report: the single
    # document, the page of versions and the job all decode into the runtime's types and
    # encode back to the bytes' JSON (the report's every member included)
    assert upload(registry_client, unique_name, onnx_file, targets="onnx").status_code == 202
    wait_done(registry_client, unique_name, 1)
    one = registry_client.get(f"/api/v1/models/{unique_name}/versions/1").json()
    doc = VersionDoc.from_json(one)
    assert doc.signature is not None and doc.signature.inputs
    onnx = doc.artifact("onnx")
    assert onnx is not None and onnx.validation is not None
    assert onnx.validation.decided_by and onnx.validation.outputs
    assert onnx.validation.status == onnx.status
    page = registry_client.get(f"/api/v1/models/{unique_name}/versions").json()
    assert [VersionDoc.from_json(v) for v in page["items"]] == [doc]
    assert page["items"] == [one]
    job = JobDoc.from_json(registry_client.get(f"/api/v1/jobs/{doc.job_id}").json())
    assert (job.name, job.version, job.status) == (unique_name, 1, "succeeded")
    assert job.timings and all(isinstance(t, float) for t in job.timings.values())
    # the JSON it came from, but for the ISO form of times (pydantic writes "Z")
    again = doc.to_json()
    assert VersionDoc.from_json(again) == doc
    assert {k: v for k, v in again.items() if not k.endswith("_at")} == {
        k: v for k, v in one.items() if not k.endswith("_at")
    }


def test_aliases_and_latest_move_at_once_and_are_cached_briefly(
    registry_client, unique_name, onnx_file
):
    for _ in range(2):
        assert upload(registry_client, unique_name, onnx_file).status_code == 202
    wait_done(registry_client, unique_name, 1)
    wait_done(registry_client, unique_name, 2)
    base = f"/api/v1/models/{unique_name}"
    latest = registry_client.get(f"{base}/versions/latest")
    assert latest.json()["version"] == 2
    assert latest.headers["cache-control"] == "public, max-age=5"
    assert registry_client.put(f"{base}/aliases/prod", json={"version": 1}).status_code == 200
    one = registry_client.get(f"{base}/versions/prod")
    assert one.json()["version"] == 1 and one.headers["cache-control"] == "public, max-age=5"
    # the numbered document lists its aliases: reading it now shows the new alias
    assert registry_client.get(f"{base}/versions/1").json()["aliases"] == ["prod"]
    assert registry_client.put(f"{base}/aliases/prod", json={"version": 2}).status_code == 200
    assert registry_client.get(f"{base}/versions/prod").json()["version"] == 2
    assert registry_client.get(f"{base}/versions/1").json()["aliases"] == []
    assert registry_client.delete(f"{base}/aliases/prod").status_code == 204
    assert registry_client.get(f"{base}/versions/prod").status_code == 404
    assert upload(registry_client, unique_name, onnx_file).status_code == 202
    assert registry_client.get(f"{base}/versions/latest").json()["version"] == 3
    wait_done(registry_client, unique_name, 3)


def test_leading_zeros_name_the_same_cached_version(registry_client, unique_name, onnx_file):
    assert upload(registry_client, unique_name, onnx_file).status_code == 202
    wait_done(registry_client, unique_name, 1)
    base = f"/api/v1/models/{unique_name}/versions"
    assert registry_client.get(f"{base}/001").content == registry_client.get(f"{base}/1").content
    assert registry_client.get(f"{base}/{'9' * 30}").status_code == 404


# -- the cache itself, with a fake clock ------------------------------------------------


def _version(number: int, status: str = "ready") -> ModelVersion:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return ModelVersion(
        name="m",
        version=number,
        status=status,
        framework="onnx",
        source=SourceFile("m.onnx", "0" * 64, 1),
        description="",
        tags={},
        signature=None,
        lineage=None,
        created_by=None,
        created_at=now,
        updated_at=now,
        aliases=[],
        error=None,
        job_id=None,
        targets=["onnx"],
        artifacts=[],
        options={},
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reads() -> list[str]:
    return []


def _reader(reads: list[str], status: str = "ready"):
    def read(name: str, ref: str) -> ModelVersion:
        reads.append(ref)
        return _version(int(ref) if ref.isdecimal() else 7, status)

    return read


def _encode(v: ModelVersion) -> bytes:
    return f"{v.name}:{v.version}:{v.status}".encode()


def test_cache_keeps_ready_documents_until_their_time_runs_out(reads):
    clock = _Clock()
    docs = VersionDocs(_encode, max_entries=8, ttl_s=2.0, clock=clock)
    assert docs.get("m", "1") is None
    doc = docs.load(_reader(reads), "m", "1")
    assert doc.body == b"m:1:ready" and doc.ready
    assert docs.get("m", "01") is doc  # the same number, spelled differently
    clock.now = 1.9
    assert docs.get("m", "1") is doc
    clock.now = 2.1
    assert docs.get("m", "1") is None
    assert reads == ["1"]


def test_cache_never_keeps_unfinished_versions(reads):
    docs = VersionDocs(_encode, ttl_s=60)
    doc = docs.load(_reader(reads, "converting"), "m", "1")
    assert not doc.ready
    assert docs.get("m", "1") is None and len(docs) == 0


def test_cache_is_bounded_least_recently_used_first(reads):
    docs = VersionDocs(_encode, max_entries=3, ttl_s=60)
    for n in "1234":
        docs.load(_reader(reads), "m", n)
    assert len(docs) == 3
    assert docs.get("m", "1") is None
    docs.get("m", "2")  # now the most recent
    docs.load(_reader(reads), "m", "5")
    assert docs.get("m", "2") is not None and docs.get("m", "3") is None


def test_alias_targets_resolve_from_memory_and_forget_drops_them(reads):
    docs = VersionDocs(_encode, ttl_s=60)
    docs.load(_reader(reads), "m", "prod")
    assert docs.get("m", "prod").number == 7
    assert docs.get("m", "7").number == 7
    docs.forget("m")
    assert docs.get("m", "prod") is None and docs.get("m", "7") is None


def test_a_write_during_a_read_keeps_the_read_out_of_the_cache():
    docs = VersionDocs(_encode, ttl_s=60)

    def racing_read(name: str, ref: str) -> ModelVersion:
        docs.forget(name)  # an alias moves while this read is on its way
        return _version(1)

    assert docs.load(racing_read, "m", "1").body == b"m:1:ready"
    assert docs.get("m", "1") is None


def test_zero_entries_turns_the_cache_off(reads):
    docs = VersionDocs(_encode, max_entries=0)
    docs.load(_reader(reads), "m", "1")
    assert docs.get("m", "1") is None


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"a"', True),
        ('W/"a"', True),
        ('"b", "a"', True),
        ("*", True),
        ('"b"', False),
        ("a", False),
    ],
)
def test_if_none_match(header, matches):
    assert etag_matches(header, '"a"') is matches


def _concurrent_loads(docs: VersionDocs, read, n: int, ref: str = "1") -> list:
    results: list = [None] * n

    def load(i: int) -> None:
        results[i] = docs.load(read, "m", ref)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return [threads, results]


def _gated_reader(reads: list[str], gate: threading.Event, status: str = "ready"):
    def read(name: str, ref: str) -> ModelVersion:
        reads.append(ref)
        assert gate.wait(10)
        return _version(int(ref) if ref.isdecimal() else 7, status)

    return read


def _wait_for(cond) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_concurrent_misses_of_one_reference_share_one_read(reads):
    # a burst of clients arriving as an entry expires costs the database one query
    docs = VersionDocs(_encode, ttl_s=60)
    gate = threading.Event()
    threads, results = _concurrent_loads(docs, _gated_reader(reads, gate), 16)
    _wait_for(lambda: len(reads) == 1)
    time.sleep(0.05)  # the others are waiting on that read, not reading themselves
    assert reads == ["1"]
    gate.set()
    for t in threads:
        t.join()
    assert len({id(doc) for doc in results}) == 1 and results[0].body == b"m:1:ready"


def test_a_load_after_a_write_does_not_join_a_read_begun_before_it(reads):
    docs = VersionDocs(_encode, ttl_s=60)
    gate = threading.Event()
    first, _ = _concurrent_loads(docs, _gated_reader(reads, gate), 1, ref="prod")
    _wait_for(lambda: len(reads) == 1)
    docs.forget("m")  # the alias moves while that read is on its way
    second, _ = _concurrent_loads(docs, _gated_reader(reads, gate), 1, ref="prod")
    _wait_for(lambda: len(reads) == 2)  # a read of its own
    gate.set()
    for t in first + second:
        t.join()


def test_unfinished_versions_are_never_shared_between_loads(reads):
    # their status is what clients poll: each load reads it afresh
    docs = VersionDocs(_encode, ttl_s=60)
    gate = threading.Event()
    threads, results = _concurrent_loads(docs, _gated_reader(reads, gate, "converting"), 4)
    _wait_for(lambda: len(reads) == 1)
    gate.set()
    for t in threads:
        t.join()
    assert len(reads) == 4 and all(not doc.ready for doc in results)


def test_a_failed_read_is_not_shared():
    docs = VersionDocs(_encode, ttl_s=60)
    gate = threading.Event()
    calls: list[str] = []

    def read(name: str, ref: str) -> ModelVersion:
        calls.append(ref)
        if len(calls) == 1:
            assert gate.wait(10)
            raise RuntimeError("database went away")
        return _version(1)

    errors: list[BaseException] = []

    def first() -> None:
        try:
            docs.load(read, "m", "1")
        except RuntimeError as exc:
            errors.append(exc)

    t1 = threading.Thread(target=first)
    t1.start()
    _wait_for(lambda: len(calls) == 1)
    threads, results = _concurrent_loads(docs, read, 1)
    time.sleep(0.05)
    gate.set()
    for t in [t1, *threads]:
        t.join()
    assert len(errors) == 1 and results[0].body == b"m:1:ready" and calls == ["1", "1"]
