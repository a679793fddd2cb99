"""registry._browse, the models list's queries, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry import Database, Settings, upgrade_database
from registry._browse import ModelQuery, browse_models
from registry._orm import AliasRow, ArtifactRow, ModelRow, VersionRow

pytestmark = pytest.mark.ui

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(database_url, tmp_path):
    upgrade_database(Settings(data_dir=tmp_path / "data", database_url=database_url))
    database = Database(database_url)
    yield database
    database.dispose()


def add_model(
    db,
    name,
    *,
    versions,
    minutes,
    tags=None,
    framework="onnx",
    formats=("onnx",),
    aliases=None,
    description="",
):
    """A model with ``versions`` versions; the newest has passed ``formats``."""
    when = T0 + timedelta(minutes=minutes)
    with db.write() as s:
        model = ModelRow(
            name=name,
            description=description,
            tags=tags or {},
            last_version=versions,
            created_at=when,
            updated_at=when,
        )
        s.add(model)
        s.flush()
        rows = []
        for n in range(1, versions + 1):
            v = VersionRow(
                model_id=model.id,
                version=n,
                status="ready",
                framework=framework,
                source_filename="m.onnx",
                source_sha256="0" * 64,
                source_size=10,
                created_at=when,
                updated_at=when,
            )
            s.add(v)
            s.flush()
            rows.append(v)
        for fmt in formats:
            s.add(ArtifactRow(version_id=rows[-1].id, format=fmt, status="passed"))
        s.add(ArtifactRow(version_id=rows[-1].id, format="pmml", status="error"))
        for alias, number in (aliases or {}).items():
            s.add(AliasRow(model_id=model.id, alias=alias, version_id=rows[number - 1].id))


def names(db, **query):
    return [m.name for m in browse_models(db, ModelQuery(**query)).items]


def test_rows_carry_latest_version_aliases_and_passed_formats(db):
    add_model(
        db,
        "a",
        versions=3,
        minutes=1,
        aliases={"prod": 2},
        framework="sklearn",
        formats=("onnx", "savedmodel"),
        tags={"team": "risk"},
    )
    (row,) = browse_models(db, ModelQuery()).items
    assert (row.name, row.latest_version, row.version_count) == ("a", 3, 3)
    assert row.latest_status == "ready" and row.framework == "sklearn"
    assert row.aliases == {"prod": 2}
    assert row.formats_passed == ["onnx", "savedmodel"]  # pmml errored: not listed
    assert row.tags == {"team": "risk"}
    assert row.updated_at.tzinfo is not None


def test_filters(db):
    add_model(
        db,
        "alpha",
        versions=1,
        minutes=1,
        tags={"team": "risk"},
        aliases={"prod": 1},
        description="Fraud scorer",
    )
    add_model(
        db,
        "beta",
        versions=2,
        minutes=2,
        tags={"team": "growth"},
        framework="torch",
        formats=("onnx", "savedmodel"),
    )
    add_model(db, "gamma_1", versions=1, minutes=3, formats=())
    assert names(db, q="FRAUD") == ["alpha"]
    assert names(db, q="_") == ["gamma_1"]  # LIKE wildcards are literal
    assert names(db, q="%") == []
    assert names(db, tag="team=risk") == ["alpha"]
    assert sorted(names(db, tag="team")) == ["alpha", "beta"]
    assert names(db, tag='te"am') == []
    assert names(db, alias="prod") == ["alpha"]
    assert names(db, framework="torch") == ["beta"]
    assert names(db, format="savedmodel") == ["beta"]
    assert sorted(names(db, format="onnx")) == ["alpha", "beta"]
    assert names(db, format="pmml") == []


@pytest.mark.parametrize("sort", ["updated", "name", "versions"])
def test_cursor_pages_cover_every_model_once_in_order(db, sort):
    for i in range(7):
        # pairs share an update time and a version count, so ties are broken by name
        add_model(db, f"m{i}", versions=1 + i // 2, minutes=i // 2)
    expected = {
        "updated": sorted((f"m{i}" for i in range(7)), key=lambda n: (-(int(n[1:]) // 2), n)),
        "name": [f"m{i}" for i in range(7)],
        "versions": sorted((f"m{i}" for i in range(7)), key=lambda n: (-(int(n[1:]) // 2), n)),
    }[sort]
    seen, cursor = [], None
    while True:
        page = browse_models(db, ModelQuery(sort=sort, limit=2, cursor=cursor))
        seen += [m.name for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


def test_bad_queries_raise_clear_errors(db):
    from runtime.errors import ModelportError

    with pytest.raises(ModelportError, match="unknown sort"):
        browse_models(db, ModelQuery(sort="size"))
    with pytest.raises(ModelportError, match="limit"):
        browse_models(db, ModelQuery(limit=0))
    with pytest.raises(ModelportError, match="cursor"):
        browse_models(db, ModelQuery(cursor="garbage"))
    add_model(db, "a", versions=1, minutes=0)
    add_model(db, "b", versions=1, minutes=0)
    cursor = browse_models(db, ModelQuery(sort="name", limit=1)).next_cursor
    with pytest.raises(ModelportError, match="another sort"):
        browse_models(db, ModelQuery(sort="updated", cursor=cursor))
