"""Write a PNG of each web UI page to docs/ui/.

Starts a throw-away registry (SQLite, temporary data folder), pushes a few tiny ONNX
models over HTTP, and photographs the pages with headless Chromium:

    .venv/bin/python docs/ui/make_screenshots.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import start_registry, stop_registry  # noqa: E402
from tests.factories.onnx_models import linear_model  # noqa: E402
from tests.ui.conftest import CHROMIUM_ARGS, broken_onnx_model, push, wait_done  # noqa: E402

LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def seed(client, tmp: Path) -> None:  # noqa: ANN001
    fraud = {"team": "risk", "stage": "production"}
    for seed_, n_in in ((0, 4), (1, 4), (2, 6)):
        path = linear_model(tmp / f"fraud-{seed_}.onnx", n_in=n_in, seed=seed_)
        made = push(client, "fraud-clf", path, description="Card fraud scorer.", tags=fraud)
        wait_done(client, "fraud-clf", made["version"])
    client.put("/api/v1/models/fraud-clf/aliases/production", json={"version": 2})
    client.put("/api/v1/models/fraud-clf/aliases/staging", json={"version": 3})
    made = push(
        client,
        "churn",
        linear_model(tmp / "churn.onnx", n_in=8, n_out=1, seed=4),
        description="Monthly churn probability.",
        tags={"team": "growth"},
    )
    wait_done(client, "churn", made["version"])
    made = push(client, "broken-model", broken_onnx_model(tmp / "broken.onnx"))
    wait_done(client, "broken-model", made["version"])
    from tests.frameworks.sklearn import _logreg

    made = push(
        client,
        "segment-clf",
        _logreg(tmp),
        description="Customer segment (scikit-learn logistic regression).",
        tags={"team": "marketing"},
        targets="onnx,pmml",
    )
    wait_done(client, "segment-clf", made["version"], timeout=300)
    client.put("/api/v1/models/segment-clf/aliases/production", json={"version": 1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        reg = start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)

                def shoot(
                    url: str, filename: str, viewport=LAPTOP, scheme="light", full=True, base=None
                ) -> None:  # noqa: ANN001
                    context = browser.new_context(
                        base_url=base or reg.url, viewport=viewport, color_scheme=scheme
                    )
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    target = args.out / filename
                    page.screenshot(path=str(target), full_page=full)
                    context.close()
                    print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KiB)")

                shoot("/", "empty.png")
                with reg.client() as client:
                    seed(client, tmp)
                shoot("/", "models.png")
                shoot("/", "models-phone.png", viewport=PHONE)
                shoot("/models/fraud-clf", "model.png")
                shoot("/models/segment-clf/versions/1", "version.png")
                shoot(
                    "/models/segment-clf/versions/1", "version-dark.png", scheme="dark", full=False
                )
                shoot("/models/fraud-clf/compare?a=2&b=3", "compare.png")
                shoot("/models/broken-model/versions/1", "failed.png")
                shoot("/upload", "upload.png")
                shoot("/models/no-such-model", "not-found.png")
                # a registry that needs tokens sends visitors to sign in first
                locked = start_registry(
                    tmp / "locked-data",
                    f"sqlite:///{tmp / 'locked.db'}",
                    {"MODELPORT_READ_TOKENS": "r-" + "x" * 30},
                )
                try:
                    shoot("/", "signin.png", full=False, base=locked.url)
                finally:
                    stop_registry(locked)
                browser.close()
        finally:
            stop_registry(reg)


if __name__ == "__main__":
    main()
