"""Steps 2 -> 4 and 5 end to end: export, serve with the emulator, call it as a reader would.

The model is exported once per session by running 02_train_and_export.py; one emulator
serves it for the whole module; 04 and 05 run as subprocesses with GRPC_PORT, REST_PORT
and MODEL_BASE_DIR pointing at that setup.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tutorial.data import make_data, true_curve
from tutorial.saved_model_show import format_signature_def, read_saved_model

launcher = pytest.importorskip("tfserving_emulator.launcher")

MODEL_NAME = "MMModel"
CLIENT_DATA_SEED = 0  # the clients' DATA_SEED
START_SERVER = "./03_start_server.sh start"


@pytest.fixture(scope="module")
def server(exported):
    with launcher.EmulatorProcess(
        [f"--model_name={MODEL_NAME}", f"--model_base_path={exported.model_dir}"]
    ) as process:
        yield process


@pytest.fixture(scope="module")
def client_env(server, exported) -> dict[str, str]:
    return {
        "GRPC_PORT": str(server.grpc_port),
        "REST_PORT": str(server.rest_port),
        "MODEL_BASE_DIR": str(exported.base_dir),
        "MODEL_NAME": MODEL_NAME,
    }


@pytest.fixture(scope="module")
def expected_table(exported) -> str:
    """The 5-row table the clients print, computed from the SavedModel on disk."""
    x, _ = make_data(CLIENT_DATA_SEED)
    predictions = tf.saved_model.load(str(exported.version_dir)).signatures["serving_default"](
        x=tf.constant(x)
    )["y"]
    predictions = predictions.numpy()
    expected = true_curve(x)
    lines = [f"{'x':>8}  {'x^2-0.5':>8}  {'prediction':>10}"]
    for row in (0, 74, 149, 224, 299):
        lines.append(f"{x[row, 0]:8.4f}  {expected[row, 0]:8.4f}  {predictions[row, 0]:10.4f}")
    mae = float(np.mean(np.abs(predictions - expected)))
    lines += ["", f"Mean absolute error against x^2 - 0.5 over 300 rows: {mae:.4f}"]
    return "\n".join(lines) + "\n"


def signature_text(version_dir: Path, name: str) -> str:
    (meta_graph,) = read_saved_model(version_dir).meta_graphs
    return "\n".join(format_signature_def(name, meta_graph.signature_def[name]))


def assert_one_line_failure(result, line: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [line]


def mean_absolute_error(stdout: str) -> float:
    return float(
        re.search(r"^Mean absolute error against x\^2 - 0\.5 over 300 rows: (\d+\.\d+)$", stdout, re.M)[1]
    )


# ---------------------------------------------------------------------------
# 04_grpc_client.py
# ---------------------------------------------------------------------------


def test_grpc_client_the_blogs_signature(script_runner, client_env, exported, expected_table):
    result = script_runner("04_grpc_client.py", env=client_env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("settings (settings.env, overridden by environment variables of the same name):\n")
    assert "\nGetModelStatus MMModel:\n  version 1: AVAILABLE\n" in out
    # GetModelMetadata returns the SignatureDef exactly as exported, tensor names included.
    assert "\nGetModelMetadata MMModel: version 1, signature 'your_prediction'\n" in out
    assert signature_text(exported.version_dir, "your_prediction") in out
    assert "\nPredict: 300 rows to MMModel, signature 'your_prediction'\n" in out
    assert out.endswith("\n" + expected_table)
    assert mean_absolute_error(out) < 0.05
    assert result.stderr == ""


def test_grpc_client_serving_default_sends_x_only(script_runner, client_env, exported, expected_table):
    result = script_runner("04_grpc_client.py", "--signature", "serving_default", env=client_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert signature_text(exported.version_dir, "serving_default") in result.stdout
    assert result.stdout.endswith("\n" + expected_table)


def test_grpc_client_pinned_version(script_runner, client_env, expected_table):
    result = script_runner("04_grpc_client.py", "--version", "1", env=client_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\nGetModelMetadata MMModel: version 1, signature 'your_prediction'\n" in result.stdout
    assert result.stdout.endswith("\n" + expected_table)


def test_grpc_client_unknown_version(script_runner, client_env):
    result = script_runner("04_grpc_client.py", "--version", "7", env=client_env)
    assert_one_line_failure(
        result,
        "error: version 7 of model MMModel is not loaded (NOT_FOUND: Could not find version 7 of model MMModel). "
        "Drop --version to use the latest, or export that version (02_train_and_export.py --version N).",
    )


def test_grpc_client_unknown_model(script_runner, client_env, server):
    result = script_runner("04_grpc_client.py", env={**client_env, "MODEL_NAME": "Nope"})
    assert_one_line_failure(
        result,
        f"error: the server at localhost:{server.grpc_port} has no model 'Nope' "
        "(NOT_FOUND: Could not find any versions of model Nope). "
        "Set MODEL_NAME (settings.env or the environment) to the name the server was started with.",
    )


def test_grpc_client_unknown_signature(script_runner, client_env):
    result = script_runner("04_grpc_client.py", "--signature", "nope", env=client_env)
    assert (
        "\nGetModelMetadata MMModel: version 1, signature 'nope'\n"
        "  no such signature; the model has: serving_default, your_prediction\n"
    ) in result.stdout
    assert_one_line_failure(
        result,
        "error: model MMModel has no signature 'nope' "
        '(FAILED_PRECONDITION: Serving signature key "nope" not found.). '
        "Use --signature serving_default or --signature your_prediction.",
    )


# ---------------------------------------------------------------------------
# 05_rest_client.py
# ---------------------------------------------------------------------------


def test_rest_client_walkthrough(script_runner, client_env, server, exported):
    result = script_runner("05_rest_client.py", env=client_env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    model_url = f"http://localhost:{server.rest_port}/v1/models/MMModel"
    assert f"\nGET {model_url}\n  version 1: AVAILABLE\n" in out
    assert f"\nGET {model_url}/metadata\n" + signature_text(exported.version_dir, "your_prediction") in out
    assert signature_text(exported.version_dir, "serving_default") in out
    for heading in (
        f"POST {model_url}:predict  (row format, signature your_prediction)",
        f"POST {model_url}:predict  (columnar format, signature your_prediction)",
        f"POST {model_url}:predict  (row format, no signature_name: serving_default)",
        f"POST {model_url}/versions/1:predict  (serving_default)",
    ):
        assert f"\n{heading}\n" in out
    assert '  reply  : {"predictions": [[' in out
    assert '  reply  : {"outputs": [[' in out

    # The deliberate mistake: the blog's two inputs sent to serving_default (input x only).
    assert "  reply: HTTP 400 Bad Request\n" in out
    error_body = out.split("  reply: HTTP 400 Bad Request\n", 1)[1].split("\n\n", 1)[0]
    assert '"error": "' in error_body
    assert "tensor_info_input_x" in error_body

    differences = re.findall(r"^  (.+?) +max \|difference\| from the local SavedModel: (\S+)$", out, re.M)
    assert [label for label, _ in differences] == [
        "REST row (your_prediction)",
        "REST columnar (your_prediction)",
        "REST serving_default",
        "REST /versions/1",
        "gRPC (your_prediction)",
    ]
    assert all(float(value) < 1e-6 for _, value in differences)
    assert mean_absolute_error(out) < 0.05
    assert "\nREST, gRPC and the local SavedModel agree (max difference " in out
    assert result.stderr == ""


def test_rest_and_grpc_clients_report_the_same_error_against_the_curve(script_runner, client_env):
    grpc_run = script_runner("04_grpc_client.py", env=client_env)
    rest_run = script_runner("05_rest_client.py", env=client_env)
    assert mean_absolute_error(grpc_run.stdout) == mean_absolute_error(rest_run.stdout)


def test_rest_client_unknown_model(script_runner, client_env, server):
    result = script_runner("05_rest_client.py", env={**client_env, "MODEL_NAME": "Nope"})
    assert_one_line_failure(
        result,
        f"error: the server at http://localhost:{server.rest_port} has no model 'Nope' "
        "(HTTP 404: Could not find any versions of model Nope). "
        "Set MODEL_NAME (settings.env or the environment) to the name the server was started with.",
    )


def test_rest_client_unknown_version(script_runner, client_env):
    result = script_runner("05_rest_client.py", "--version", "7", env=client_env)
    assert_one_line_failure(
        result,
        "error: version 7 of model MMModel is not loaded "
        "(HTTP 404: Servable not found for request: Specific(MMModel, 7)). "
        "Drop --version to use the latest, or export that version (02_train_and_export.py --version N).",
    )


def test_rest_client_needs_the_served_version_on_disk(script_runner, client_env, tmp_path):
    result = script_runner("05_rest_client.py", env={**client_env, "MODEL_BASE_DIR": str(tmp_path)})
    assert_one_line_failure(
        result,
        f"error: the served version 1 is not in {tmp_path / MODEL_NAME}, so it cannot be compared locally. "
        "Set MODEL_BASE_DIR to the folder the server serves.",
    )


def test_rest_client_fails_when_the_answers_disagree(script_runner, client_env, train_module, tmp_path):
    # A different model as "version 1" on disk than the one being served.
    other_model_dir = tmp_path / MODEL_NAME
    assert (
        train_module.main(
            ["--model-dir", str(other_model_dir), "--steps", "5", "--plot", str(tmp_path / "p.png")]
        )
        == 0
    )
    result = script_runner("05_rest_client.py", env={**client_env, "MODEL_BASE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert re.fullmatch(
        r"error: the answers differ by \S+ \(limit 1e-06\)\. Is the server serving another model or version "
        r"than the one on disk\? Check MODEL_BASE_DIR\.",
        line,
    )


# ---------------------------------------------------------------------------
# The blog's own TF 1.13 export works with the same client
# ---------------------------------------------------------------------------


def test_the_blogs_own_export(script_runner, shared_testdata, tmp_path):
    """04 calls the blog's TF 1.13 model as is; 05 says in one line that it needs step 2's model."""
    blog_model = shared_testdata / "seed_repo" / "trained_models" / "MMModel_2"
    if not blog_model.is_dir():
        pytest.skip("the blog's export is not in ../shared/testdata")
    base = tmp_path / "MMModel"
    shutil.copytree(blog_model, base)
    with launcher.EmulatorProcess([f"--model_name={MODEL_NAME}", f"--model_base_path={base}"]) as blog_server:
        env = {
            "GRPC_PORT": str(blog_server.grpc_port),
            "REST_PORT": str(blog_server.rest_port),
            "MODEL_BASE_DIR": str(tmp_path),
            "MODEL_NAME": MODEL_NAME,
        }
        grpc_run = script_runner("04_grpc_client.py", env=env)
        rest_run = script_runner("05_rest_client.py", env=env)
    assert grpc_run.returncode == 0, grpc_run.stdout + grpc_run.stderr
    assert "        name: Placeholder:0\n" in grpc_run.stdout  # the blog's TF1 tensor names
    assert mean_absolute_error(grpc_run.stdout) < 0.1
    assert_one_line_failure(
        rest_run,
        "error: model MMModel version 1 has no signature 'serving_default'; "
        "serve the model that 02_train_and_export.py exports.",
    )


# ---------------------------------------------------------------------------
# Each client at the other protocol's port of the same server
# ---------------------------------------------------------------------------


def test_grpc_client_at_the_rest_port(script_runner, client_env, server):
    result = script_runner("04_grpc_client.py", "--port", str(server.rest_port), env=client_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: localhost:{server.rest_port} answers HTTP/1.x, not gRPC: that is a REST port (UNAVAILABLE: "
    )
    assert line.endswith(f". Use the gRPC port: --port {server.grpc_port} (GRPC_PORT).")


def test_rest_client_at_the_grpc_port(script_runner, client_env, server):
    result = script_runner("05_rest_client.py", "--port", str(server.grpc_port), env=client_env)
    assert_one_line_failure(
        result,
        f"error: http://localhost:{server.grpc_port} answers HTTP/2 frames, not HTTP/1.1: that is a gRPC port. "
        f"Use the REST port: --port {server.rest_port} (REST_PORT).",
    )


def test_rest_clients_grpc_check_at_the_rest_port(script_runner, client_env, server):
    result = script_runner("05_rest_client.py", "--grpc-port", str(server.rest_port), env=client_env)
    assert "\nAgreement check, version 1, 300 rows:\n" in result.stdout  # the REST part ran
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: localhost:{server.rest_port} answers HTTP/1.x, not gRPC: that is a REST port"
    )
    assert line.endswith(f". Use the gRPC port: --grpc-port {server.grpc_port} (GRPC_PORT).")


def test_rest_client_agreement_lines(script_runner, client_env):
    # REST and gRPC are the same server's float32 answers (JSON carries enough digits to
    # read back the same bits), so they agree exactly; the local SavedModel may differ in
    # the last bit (other CPU kernels), well inside the 1e-6 limit.
    result = script_runner("05_rest_client.py", env=client_env)
    assert re.search(r"^  REST against gRPC +max \|difference\|: 0$", result.stdout, re.M), result.stdout
    worst = float(re.search(r"agree \(max difference (\S+) < 1e-06\)\.$", result.stdout, re.M)[1])
    assert 0 <= worst < 1e-6
