"""The ``modelport`` CLI against a real registry, through typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from clients.cli import app
from tests.clients.conftest import sha256_of
from tests.conftest import free_port
from tests.factories.onnx_models import linear_model


@pytest.fixture
def cli(live_registry):
    runner = CliRunner()

    def invoke(*args: str, url: str | None = None):
        return runner.invoke(app, ["--url", url or live_registry.url, *args])

    return invoke


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_push_wait_ls_show_pull_alias(cli, tmp_path, unique_name):
    model = linear_model(tmp_path / "lin.onnx")
    sample = tmp_path / "sample.npy"
    np.save(sample, np.ones((3, 4), dtype=np.float32))
    pushed = _json(
        cli(
            "push",
            str(model),
            "--name",
            unique_name,
            "--targets",
            "onnx",
            "--sample",
            str(sample),
            "--tag",
            "team=risk",
            "--description",
            "cli model",
            "--wait",
            "--json",
        )
    )
    assert (pushed["name"], pushed["version"], pushed["status"]) == (unique_name, 1, "ready")
    assert pushed["tags"] == {"team": "risk"}

    models = _json(cli("ls", "--json"))
    assert unique_name in [m["name"] for m in models]
    versions = _json(cli("ls", unique_name, "--json"))
    assert [v["version"] for v in versions] == [1]

    shown = _json(cli("show", f"{unique_name}:1", "--json"))
    onnx = next(a for a in shown["artifacts"] if a["format"] == "onnx")

    pulled = _json(cli("pull", unique_name, "-o", str(tmp_path / "out"), "--json"))
    assert sha256_of(tmp_path / "out" / f"{unique_name}-1.onnx") == onnx["sha256"]
    assert pulled["path"] == str(tmp_path / "out" / f"{unique_name}-1.onnx")

    alias = _json(cli("alias", f"{unique_name}:1", "production", "--json"))
    assert {k: alias[k] for k in ("name", "alias", "version", "weights")} == {
        "name": unique_name,
        "alias": "production",
        "version": 1,
        "weights": {"1": 100},
    }
    assert _json(cli("show", f"{unique_name}@production", "--json"))["version"] == 1
    deleted = cli("alias", "--delete", unique_name, "production")
    assert deleted.exit_code == 0, deleted.output
    gone = cli("show", f"{unique_name}@production")
    assert gone.exit_code == 4


def test_human_output_has_tables(cli, ready):
    listing = cli("ls", ready.name)
    assert listing.exit_code == 0, listing.output
    assert "VERSION" in listing.stdout and "ready" in listing.stdout
    shown = cli("show", ready.name)
    assert shown.exit_code == 0, shown.output
    assert f"{ready.name}:1" in shown.stdout
    assert "artifacts" in shown.stdout and "onnx" in shown.stdout
    assert "signature" in shown.stdout
    assert "[batch, 4]" in shown.stdout  # shapes are text, not rich markup


def test_push_without_wait_prints_the_ref_and_job(cli, tmp_path, unique_name):
    result = cli("push", str(linear_model(tmp_path / "m.onnx")), "--name", unique_name, "--json")
    pushed = _json(result)
    assert (pushed["name"], pushed["version"]) == (unique_name, 1)
    job = _json(cli("job", pushed["job_id"], "--json"))
    assert (job["name"], job["version"]) == (unique_name, 1)
    human = cli("job", pushed["job_id"])
    assert human.exit_code == 0, human.output
    assert pushed["job_id"] in human.stdout
    ref = cli("push", str(tmp_path / "m.onnx"), "--name", unique_name)
    assert ref.exit_code == 0, ref.output
    assert ref.stdout.strip() == f"{unique_name}:2"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("show", "no-such-model-xyz"), 4, "no-such-model-xyz"),
        (("show", "bad name!"), 5, "invalid model name"),
        (("show", "m:abc"), 5, "version number"),
        (("alias", "somemodel", "prod"), 5, "exact version"),
        (("push", "/nonexistent/model.onnx", "--name", "m"), 5, "does not exist"),
        (("push", "x.onnx", "--name", "m", "--tag", "novalue"), 5, "key=value"),
    ],
)
def test_errors_exit_nonzero_with_one_line(cli, args, code, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.onnx").write_bytes(b"x")
    result = cli(*args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.output


def test_a_refused_upload_exits_5(cli, tmp_path, unique_name):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    result = cli("push", str(bad), "--name", unique_name)
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith("error: ")


def test_unreachable_registry_exits_3(cli):
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("ls", url=url)
    assert result.exit_code == 3
    assert url in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_quiet_silences_notes_but_not_results(cli, tmp_path, unique_name):
    model = linear_model(tmp_path / "m.onnx")
    loud = cli("push", str(model), "--name", unique_name)
    assert "pushed" in loud.stderr
    quiet = cli("--quiet", "push", str(model), "--name", unique_name)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert quiet.stdout.strip() == f"{unique_name}:2"


def test_push_option_is_sent_as_json(cli, tmp_path, unique_name):
    model = linear_model(tmp_path / "lin.onnx")
    ok = cli("push", str(model), "--name", unique_name, "--option", 'input_names=["x"]')
    assert ok.exit_code == 0, ok.output
    refused = cli("push", str(model), "--name", unique_name, "--option", "opset=17")
    assert refused.exit_code == 5, refused.output
    assert "'opset'" in refused.stderr and "input_shapes" in refused.stderr
    not_json = cli("push", str(model), "--name", unique_name, "--option", "input_names=[x")
    assert not_json.exit_code == 5, not_json.output
    assert "not valid JSON" in not_json.stderr
