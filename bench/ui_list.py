"""Server time of the web UI's models list with 1,000 models and 10,000 versions.

Seeds a temporary SQLite registry directly through the registry's database layer
(migrated schema, ORM rows: every version with a source artifact, an ONNX artifact,
most with a PMML one, some aliases and tags), then renders ``GET /`` through the ASGI
app in-process many times and prints the median. Target: < 100 ms.

    .venv/bin/python bench/ui_list.py [--models 1000] [--versions-per-model 10] [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, as the other bench scripts do

FRAMEWORKS = ("sklearn", "torch", "keras", "onnx", "tensorflow")
SIGNATURE = {
    "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": ["batch", 2]}],
}


def seed(settings: object, models: int, per_model: int) -> None:
    from registry._db import Database
    from registry._orm import AliasRow, ArtifactRow, ModelRow, VersionRow

    db = Database.from_settings(settings)  # type: ignore[arg-type]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    validation = {
        "outputs": [{"name": "y", "max_abs_diff": 1e-7, "max_rel_diff": 1e-6, "passed": True}],
        "tolerance": {"atol": 1e-4, "rtol": 1e-3},
    }
    with db.write() as session:
        for i in range(models):
            when = start + timedelta(minutes=i)
            model = ModelRow(
                name=f"model-{i:04d}",
                description=f"benchmark model number {i}",
                tags={"team": f"team-{i % 7}", "stage": "bench"},
                last_version=per_model,
                created_at=when,
                updated_at=when,
            )
            session.add(model)
            session.flush()
            version_rows = []
            for n in range(1, per_model + 1):
                v = VersionRow(
                    model_id=model.id,
                    version=n,
                    status="ready" if n % 9 else "failed",
                    framework=FRAMEWORKS[(i + n) % len(FRAMEWORKS)],
                    source_filename="model.bin",
                    source_sha256=f"{i:032x}{n:032x}",
                    source_size=1000 + n,
                    targets=["onnx", "pmml"],
                    signature={
                        "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}],
                        "outputs": [{"name": "y", "dtype": "float32", "shape": ["batch", 2]}],
                    },
                    lineage={},
                    created_at=when,
                    updated_at=when,
                )
                version_rows.append(v)
            session.add_all(version_rows)
            session.flush()
            for n, v in enumerate(version_rows, start=1):
                session.add(
                    ArtifactRow(
                        version_id=v.id,
                        format="source",
                        sha256=v.source_sha256,
                        size=v.source_size,
                        status="stored",
                    )
                )
                session.add(
                    ArtifactRow(
                        version_id=v.id,
                        format="onnx",
                        sha256=v.source_sha256,
                        size=900,
                        status="passed" if n % 9 else "failed",
                        validation=validation,
                    )
                )
                if n % 2:
                    session.add(
                        ArtifactRow(
                            version_id=v.id,
                            format="pmml",
                            sha256=v.source_sha256,
                            size=800,
                            status="passed",
                            validation=validation,
                        )
                    )
            if i % 3 == 0 and len(version_rows) >= 2:
                session.add(
                    AliasRow(model_id=model.id, alias="production", version_id=version_rows[-2].id)
                )
                session.add(
                    AliasRow(model_id=model.id, alias="staging", version_id=version_rows[-1].id)
                )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions-per-model", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import httpx

    from api.app import create_app
    from registry import Settings
    from registry._migrate import upgrade_database

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), worker_concurrency=0)
        upgrade_database(settings)
        t0 = time.perf_counter()
        seed(settings, args.models, args.versions_per_model)
        seeded = time.perf_counter() - t0
        print(
            f"seeded {args.models} models / {args.models * args.versions_per_model} versions "
            f"in {seeded:.1f} s"
        )
        app = create_app(settings)
        import asyncio

        async def measure() -> dict[str, list[float]]:
            transport = httpx.ASGITransport(app=app)
            results: dict[str, list[float]] = {}
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
            ):
                for label, url in [
                    ("/ (sort=updated)", "/"),
                    ("/?sort=versions", "/?sort=versions"),
                    ("/?sort=name&page 2", None),
                    ("/?q=model-09&tag=team=team-3", "/?q=model-09&tag=team%3Dteam-3"),
                    ("/?format=pmml&alias=production", "/?format=pmml&alias=production"),
                ]:
                    if url is None:
                        first = await client.get("/?sort=name")
                        marker = 'rel="next"'
                        html = first.text
                        at = html.find(marker)
                        assert at > 0, "the first page has no next page; seed more models (over 50)"
                        href_start = html.rfind('href="', 0, at) + 6
                        url = html[href_start : html.find('"', href_start)].replace("&amp;", "&")
                    times = []
                    for _ in range(args.runs + 3):
                        t = time.perf_counter()
                        response = await client.get(url)
                        times.append((time.perf_counter() - t) * 1000)
                        assert response.status_code == 200, response.text[:500]
                    results[label] = times[3:]  # drop warm-up
            return results

        results = asyncio.run(measure())
        for label, times in results.items():
            print(
                f"{label:36s} median {statistics.median(times):6.1f} ms   "
                f"p90 {sorted(times)[int(0.9 * len(times))]:6.1f} ms"
            )
        main_median = statistics.median(results["/ (sort=updated)"])
        verdict = "OK" if main_median < 100 else "OVER TARGET"
        print(f"models list: median {main_median:.1f} ms (target < 100 ms) {verdict}")


if __name__ == "__main__":
    main()
