"""The validation report of a real conversion (scikit-learn -> ONNX, whose float32
outputs differ from the source's float64 ones) as the pages show it: every figure the
converter wrote, in the row of its output and set."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from api.routes.ui._filters import sci
from api.routes.ui._views import report_view
from runtime import ValidationReport
from tests.frameworks import sklearn as sklearn_cases
from tests.frameworks.conftest import import_or_skip
from tests.ui.conftest import push, wait_done

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def logreg(http, tmp_path_factory) -> tuple[str, dict]:
    """A three-class logistic regression converted to ONNX: its name and version doc."""
    for module in sklearn_cases.IMPORTS:
        import_or_skip(module)
    name = f"report-{uuid.uuid4().hex[:8]}"
    path = sklearn_cases._logreg(tmp_path_factory.mktemp("report"))
    made = push(http, name, path, targets="onnx")
    doc = wait_done(http, name, made["version"], timeout=180)
    assert doc["status"] == "ready", doc
    return name, doc


def onnx_report(doc: dict) -> dict:
    return next(a for a in doc["artifacts"] if a["format"] == "onnx")["validation"]


def section(page: str, fmt: str) -> str:
    return page.split(f'id="artifact-{fmt}"')[1].split("</section>")[0]


def row(text: str, attribute: str, value: str) -> str:
    match = re.search(rf'<(tr|li)[^>]*{attribute}="{re.escape(value)}"[^>]*>(.*?)</\1>', text, re.S)
    assert match, f"no {attribute}={value!r} row"
    return html.unescape(match.group(2))


def test_the_report_has_real_figures(logreg):
    report = onnx_report(logreg[1])
    floats = [o for o in report["outputs"] if o["compare"] == "allclose"]
    assert floats and any(float(o["max_abs_diff"]) > 0 for o in floats)
    assert any(o["compare"] == "exact" for o in report["outputs"])


def test_each_output_row_shows_its_figures_and_tolerance(http, logreg):
    name, doc = logreg
    report = onnx_report(doc)
    page = section(http.get(f"/models/{name}/versions/{doc['version']}").text, "onnx")
    for output in report["outputs"]:
        text = row(page, "data-output", output["name"])
        assert sci(output["max_abs_diff"]) in text
        assert sci(output["max_rel_diff"]) in text
        if output["compare"] == "exact":
            assert "exact" in text
        else:
            tol = output["tolerance"]
            assert f"atol {sci(tol['atol'])} · rtol {sci(tol['rtol'])}" in text
            assert "errbar" in text
        assert "mismatch" not in text  # every output passed


def test_sets_findings_and_decision_are_shown(http, logreg):
    name, doc = logreg
    report = onnx_report(doc)
    page = section(http.get(f"/models/{name}/versions/{doc['version']}").text, "onnx")
    assert f"decided by {' + '.join(report['decided_by'])}" in page
    for input_set in report["sets"]:
        text = row(page, "data-set", input_set["name"])
        assert str(input_set["rows"]) in text
        assert input_set["status"] in text
        assert ("decides" if input_set["role"] == "decides" else "reported only") in text
    for finding in report["findings"]:
        text = row(page, "data-finding", f"{finding['set']}/{finding['output'] or ''}")
        assert finding["status"] in text and finding["explanation"] in text
    assert report["recipe"]["filename"] in page
    assert report["summary"] in html.unescape(page)


def test_largest_difference_on_the_list_and_compare_pages(http, logreg):
    name, doc = logreg
    largest = max(float(o["max_abs_diff"]) for o in onnx_report(doc)["outputs"])
    listing = html.unescape(http.get(f"/models/{name}").text)
    assert f"onnx: passed; max abs diff {sci(largest)}" in listing
    compare = http.get(f"/models/{name}/compare", params={"a": 1, "b": 1}).text
    assert re.search(
        rf'data-label="A max abs" class="num">\s*{re.escape(sci(largest))}\s*<', compare
    )


def test_report_view_reads_the_converters_document(logreg):
    report = onnx_report(logreg[1])
    view = report_view(ValidationReport.from_json(report))
    assert [r.name for r in view.rows] == [o["name"] for o in report["outputs"]]
    for got, output in zip(view.rows, report["outputs"], strict=True):
        assert got.max_abs == output["max_abs_diff"]
        assert got.max_rel == output["max_rel_diff"]
        assert got.exact == (output["compare"] == "exact")
        assert got.ok is output["passed"]
    assert view.max_abs == max(float(o["max_abs_diff"]) for o in report["outputs"])
    assert [s.name for s in view.sets] == [s["name"] for s in report["sets"]]
    assert view.decided_by == tuple(report["decided_by"])
    assert view.recipe is not None and view.recipe.script == report["recipe"]["script"]
