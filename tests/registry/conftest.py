from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import Registry, S3BlobStore, Settings, upgrade_database
from tests.conftest import SETUPS, registry_setup


def make_registry(database_url: str, data_dir: Path, **overrides) -> Registry:
    settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
    upgrade_database(settings)
    return Registry(settings)


@pytest.fixture(params=SETUPS)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A fresh registry on SQLite, on PostgreSQL, and on SQLite with an S3 store."""
    for setup in registry_setup(request, request.param, tmp_path):
        store = setup.env.get("MODELPORT_STORE", "")
        with pytest.MonkeyPatch.context() as patch:
            for key, value in setup.env.items():
                if key.startswith("AWS_"):
                    patch.setenv(key, value)
            reg = make_registry(setup.database_url, tmp_path / "data", store=store)
        try:
            yield reg
        finally:
            reg.close()


def stored_files(store) -> list[str]:
    """Everything a store holds: blob files and staging files (local), or object keys,
    incomplete multipart uploads and staging files (S3)."""
    if isinstance(store, S3BlobStore):
        client = store.client
        objects = client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
        uploads = client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
        staged = [str(p) for p in store._staging.folder.rglob("*") if p.is_file()]
        return (
            [o["Key"] for o in objects.get("Contents", [])]
            + [u["Key"] for u in uploads.get("Uploads", [])]
            + staged
        )
    return [str(p) for p in store.root.rglob("*") if p.is_file()]
