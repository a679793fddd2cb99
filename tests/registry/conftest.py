from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import Registry, Settings, upgrade_database


def make_registry(database_url: str, data_dir: Path, **overrides) -> Registry:
    settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
    upgrade_database(settings)
    return Registry(settings)


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[Registry]:
    reg = make_registry(database_url, tmp_path / "data")
    try:
        yield reg
    finally:
        reg.close()
