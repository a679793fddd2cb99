"""Alembic migrations shipped in the package, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from registry import Database, Settings, current_revision, head_revision, upgrade_database


def test_upgrade_creates_the_schema_and_is_idempotent(database_url, tmp_path, monkeypatch):
    monkeypatch.chdir("/")  # no reliance on the working directory
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    assert upgrade_database(settings) == head_revision()
    assert upgrade_database(settings) == head_revision()
    engine = create_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"models", "model_versions", "artifacts", "aliases", "jobs", "alembic_version"} <= tables


def test_fresh_database_has_no_revision(database_url):
    db = Database(database_url)
    try:
        assert current_revision(db) is None
    finally:
        db.dispose()


def test_concurrent_upgrades_from_several_processes_agree(database_url, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: upgrade_database(settings), range(4)))
    assert results == [head_revision()] * 4
